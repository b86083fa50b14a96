"""What `make ui` shows after a run: the real webserver over the instance the CLI wrote,
queried through the same GraphQL API the UI uses."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from route_assets.cli import main
from route_assets_tests.test_pipeline import BRIEF

ROOT = Path(__file__).resolve().parents[1]
QUERY = """{ assetNodes { assetKey { path } groupName
  assetMaterializations(limit: 20) { partition
    metadataEntries { label ... on FloatMetadataEntry { floatValue } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "webserver exited early"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"webserver not ready at {url}")


def test_ui_shows_assets_partitions_and_cost(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    brief = tmp_path / "brief.yaml"
    brief.write_text(yaml.safe_dump({**BRIEF, "ad_sets": [{**BRIEF["ad_sets"][0],
                                                          "motion": None}]}))
    assert CliRunner().invoke(main, ["run", str(brief)]).exit_code == 0

    port = free_port()
    webserver = Path(sys.executable).parent / "dagster-webserver"
    proc = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", proc)
        nodes = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY},
                           timeout=60).json()["data"]["assetNodes"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert set(by_name) == {"base_generation", "flaw_classification", "surgical_edit",
                            "qa_resize", "video_expansion", "campaign_cost_report"}
    for name, node in by_name.items():
        assert node["groupName"] == "creative"
        mats = node["assetMaterializations"]
        assert mats, f"{name} has no materialization"
        if name != "campaign_cost_report":
            assert {m["partition"] for m in mats} == {"test-camp/hero"}
        for mat in mats:
            costs = [e["floatValue"] for e in mat["metadataEntries"] if e["label"] == "cost_usd"]
            assert len(costs) == 1, f"{name} materialization without cost_usd"
    gen_cost = [e["floatValue"] for e in by_name["base_generation"]["assetMaterializations"][0]
                ["metadataEntries"] if e["label"] == "cost_usd"][0]
    assert gen_cost == 0.08
