"""What an operator sees, in a real browser: Playwright driving Debian's Chromium (installed by
.ci/run) over the Dagster UI and the campaign review sheet. Screenshots go to test-artifacts/."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from playwright.sync_api import Page, sync_playwright

from route_assets.cli import main
from route_assets_tests.test_pipeline import BRIEF
from route_assets_tests.test_ui import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
STAGES = ["base_generation", "flaw_classification", "surgical_edit", "qa_resize",
          "video_expansion", "campaign_cost_report"]


@pytest.fixture()
def ran(tmp_path, monkeypatch):
    """A small campaign made by the CLI, as after `make demo`."""
    home = tmp_path / "home"
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    brief = tmp_path / "brief.yaml"
    brief.write_text(yaml.safe_dump(BRIEF))
    result = CliRunner().invoke(main, ["run", str(brief)])
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture()
def page():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: .ci/run installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


def metadata_value(page: Page, label: str) -> str:
    row = page.locator("tr", has=page.locator("td", has_text=label)).first
    return row.locator("td").nth(1).inner_text().strip()


def test_lineage_partition_metadata_and_review_sheet(ran, page):
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/server_info", proc)
        page.goto(f"{base}/asset-groups/creative", timeout=60_000)
        for stage in STAGES:
            page.get_by_text(stage, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "lineage.png"))

        page.goto(f"{base}/assets/qa_resize?partition=test-camp%2Fhero&view=events")
        page.get_by_text("subject-aware-crop").first.wait_for(timeout=60_000)
        assert metadata_value(page, "model") == "subject-aware-crop"
        assert float(metadata_value(page, "cost_usd")) == 0.0
        page.goto(f"{base}/assets/base_generation?partition=test-camp%2Fhero&view=events")
        page.get_by_text("flux-1.1-pro").first.wait_for(timeout=60_000)
        assert float(metadata_value(page, "cost_usd")) == pytest.approx(0.08)
        page.screenshot(path=str(ARTIFACTS / "base_generation_events.png"), full_page=True)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    sheet = ran / "store" / "test-camp" / "review.html"
    page.goto(sheet.as_uri())
    page.wait_for_load_state("load")
    images = page.locator("img")
    loaded = page.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth)")
    assert len(loaded) == images.count() >= 7 and all(loaded), loaded
    captions = page.locator("figcaption").all_inner_texts()
    for placement in BRIEF["ad_sets"][0]["placements"]:
        assert any(c.startswith(placement) for c in captions), placement
    assert page.locator("video").count() == 1
    page.screenshot(path=str(ARTIFACTS / "review_sheet.png"), full_page=True)
