"""`route-assets backfill`: the pure derivation of localized ad sets, the asset backfill it writes
to an instance, and the whole path through a real webserver and daemon."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import yaml
from click.testing import CliRunner

from route_assets.backfill import (
    BackfillError,
    backfill_command,
    carried_over,
    extend_brief,
    launch_on_instance,
    localize_ad_sets,
)
from route_assets.brief import parse_brief, registered_brief
from route_assets.cli import main
from route_assets.definitions import STAGE_ASSETS
from route_assets.settings import PROVIDER_ENV, store_url
from route_assets.storage import open_store
from route_assets_tests.test_ui import ROOT, free_port, wait_for

BRIEF: dict[str, Any] = {
    "campaign": "test-camp",
    "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 5.0,
    "markets": [
        {"id": "us", "locale": "en-US", "headline": "Glow all summer"},
        {"id": "de", "locale": "de-DE", "headline": "Den ganzen Sommer strahlen"},
    ],
    "ad_sets": [
        {"id": "us-hero", "market": "us", "tier": "hero", "prompt": "a sunscreen bottle",
         "subject": "sunscreen bottle", "candidates": 1, "motion": None,
         "placements": ["ig-feed-square"]},
    ],
}
STAGES = {a.key.to_user_string() for a in STAGE_ASSETS}


def brief(**changes: Any):
    return parse_brief({**BRIEF, **changes}, source="b.yaml")


def test_localized_copy_takes_market_headline_locale_hint_and_prefixed_id():
    two = brief(ad_sets=[*BRIEF["ad_sets"], {**BRIEF["ad_sets"][0], "id": "runner",
                                              "headline": "20% off"}])
    new = localize_ad_sets(two, "de")
    assert [a.id for a in new] == ["de-hero", "de-runner"]
    assert {a.market for a in new} == {"de"} and {a.headline for a in new} == {None}
    assert all(a.prompt.startswith("a sunscreen bottle") and "de-DE" in a.prompt for a in new)
    resolved = extend_brief(two, new).ad_set("de-runner")
    assert (resolved.headline, resolved.locale) == ("Den ganzen Sommer strahlen", "de-DE")
    assert resolved.placements == ("ig-feed-square",) and resolved.tier == "hero"


def test_headline_option_and_source_market():
    three = brief(markets=[*BRIEF["markets"], {"id": "fr", "locale": "fr-FR",
                                               "headline": "Brillez"}])
    new = localize_ad_sets(three, "fr", source_market="us", headline="Tout l'été")
    assert [(a.id, a.headline) for a in new] == [("fr-hero", "Tout l'été")]
    de = extend_brief(three, localize_ad_sets(three, "de"))
    assert [a.id for a in localize_ad_sets(de, "fr", source_market="de")] == ["fr-hero"]


def test_ids_the_brief_already_has_are_not_derived_again():
    hand_written = {**BRIEF["ad_sets"][0], "id": "de-hero", "market": "de"}
    assert localize_ad_sets(brief(ad_sets=[*BRIEF["ad_sets"], hand_written]), "de") == []


@pytest.mark.parametrize(("market", "source", "match"), [
    ("fr", None, r"b\.yaml: markets: no market 'fr' \(--market\); fix: add .*locale.*headline"),
    ("de", "uk", r"b\.yaml: markets: no market 'uk' \(--from-market\)"),
    ("us", None, r"b\.yaml: markets: --market 'us' is also the source market; fix"),
    ("us", "de", r"b\.yaml: ad_sets: no ad set has market 'de'.*fix: pass --from-market"),
])
def test_errors_name_brief_field_and_fix(market, source, match):
    with pytest.raises(BackfillError, match=match):
        localize_ad_sets(brief(), market, source_market=source, source="b.yaml")


def test_extended_brief_is_validated():
    long_id = {**BRIEF["ad_sets"][0], "id": "x" * 62}
    b = brief(ad_sets=[long_id])
    with pytest.raises(BackfillError, match="(?s)invalid brief.*ad-set id"):
        extend_brief(b, localize_ad_sets(b, "de"))


def test_earlier_copies_are_carried_and_new_ones_win():
    b = brief()
    earlier = extend_brief(b, localize_ad_sets(b, "de", headline="alt"))
    assert carried_over(b, earlier, localize_ad_sets(b, "de")) == []
    gone = brief(markets=BRIEF["markets"][:1])
    assert carried_over(gone, earlier, []) == []  # market removed from the file: not carried
    assert [a.id for a in carried_over(b, earlier, [])] == ["de-hero"]


def test_launch_on_instance_writes_an_asset_backfill_of_exactly_the_partitions():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ad_sets", ["test-camp/us-hero", "test-camp/de-hero"])
        backfill_id = launch_on_instance(instance, ["test-camp/de-hero"], {"campaign": "c"}, "t")
        stored = instance.get_backfill(backfill_id)
        assert stored is not None and stored.is_asset_backfill and stored.title == "t"
        assert stored.asset_backfill_data is not None
        targeted = stored.asset_backfill_data.target_subset.iterate_asset_partitions()
        assert {(k.asset_key.to_user_string(), k.partition_key) for k in targeted} == {
            (a, "test-camp/de-hero") for a in STAGES}


@pytest.fixture
def home(tmp_path, monkeypatch):
    for key_var, _, _ in PROVIDER_ENV.values():
        monkeypatch.delenv(key_var, raising=False)  # everything on the free local engines
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    (tmp_path / "home" / "dagster").mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "home" / "dagster" / "dagster.yaml")
    path = tmp_path / "brief.yaml"
    path.write_text(yaml.safe_dump(BRIEF))
    return path


def test_cli_errors_exit_2_with_the_fix(home):
    result = CliRunner().invoke(backfill_command, [str(home), "--campaign", "other",
                                                   "--market", "de"])
    assert result.exit_code == 2 and "fix: pass --campaign test-camp" in result.output
    result = CliRunner().invoke(backfill_command, [str(home), "--campaign", "test-camp",
                                                   "--market", "fr"])
    assert result.exit_code == 2 and "no market 'fr'" in result.output


def test_cli_without_webserver_writes_the_backfill_to_the_instance(home, monkeypatch):
    monkeypatch.setattr("route_assets.backfill.DEFAULT_GRAPHQL_URL",
                        f"http://127.0.0.1:{free_port()}/graphql")  # nothing listens there
    result = CliRunner().invoke(backfill_command, [str(home), "--campaign", "test-camp",
                                                   "--market", "de", "--headline", "Hallo"])
    assert result.exit_code == 0, result.output
    assert "via the instance" in result.output
    match = re.search(r"overview/backfills/(\w+)", result.output)
    assert match, result.output
    backfill_id = match.group(1)
    with dg.DagsterInstance.get() as instance:
        stored = instance.get_backfill(backfill_id)
        assert stored is not None and stored.status.value == "REQUESTED"
        assert stored.tags["campaign"] == "test-camp"
        assert stored.asset_backfill_data is not None
        targeted = stored.asset_backfill_data.target_subset.iterate_asset_partitions()
        assert {k.partition_key for k in targeted} == {"test-camp/de-hero"}
        assert set(instance.get_dynamic_partitions("ad_sets")) == {"test-camp/us-hero",
                                                                   "test-camp/de-hero"}
    snapshot = registered_brief(open_store(store_url()), "test-camp")
    assert snapshot.ad_set("de-hero").headline == "Hallo"
    assert snapshot.ad_set("de-hero").locale == "de-DE"


STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status isAssetBackfill } ... on Error { message } } }"""
DONE = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED", "COMPLETED"}


def _start(name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / name), *args, "-w", "workspace.yaml"],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed whole in the finally
    )


def test_backfill_localizes_and_daemon_materializes_only_the_new_partition(home):
    assert CliRunner().invoke(main, ["run", str(home)]).exit_code == 0
    us, de = "test-camp/us-hero", "test-camp/de-hero"
    with dg.DagsterInstance.get() as instance:
        us_before = {a: len(instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(a), asset_partitions=[us]),
            limit=100).records) for a in STAGES}
    assert set(us_before.values()) == {1}

    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    procs = [_start("dagster-webserver", "-h", "127.0.0.1", "-p", str(port)),
             _start("dagster-daemon", "run")]
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", procs[0])
        result = CliRunner().invoke(backfill_command, [str(home), "--campaign", "test-camp",
                                                       "--market", "de", "--graphql-url", url])
        assert result.exit_code == 0, result.output
        match = re.search(r"overview/backfills/(\w+)", result.output)
        assert match, result.output
        backfill_id, status = match.group(1), None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and status not in DONE:
            assert procs[1].poll() is None, "daemon exited"
            data = httpx.post(url, json={"query": STATUS, "variables": {"id": backfill_id}},
                              timeout=30).json()["data"]["partitionBackfillOrError"]
            status = data.get("status")
            assert data.get("isAssetBackfill") is not False, data
            time.sleep(1)
        assert status == "COMPLETED_SUCCESS", status
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    with dg.DagsterInstance.get() as instance:
        stored = instance.get_backfill(backfill_id)
        assert stored is not None and stored.is_asset_backfill
        assert stored.asset_backfill_data is not None
        targeted = stored.asset_backfill_data.target_subset.iterate_asset_partitions()
        assert {(k.asset_key.to_user_string(), k.partition_key) for k in targeted} == {
            (a, de) for a in STAGES}
        for asset in STAGES:
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {us, de}
            records = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(asset), asset_partitions=[us]), limit=100).records
            assert len(records) == us_before[asset], f"{asset}: us was materialized again"
    # A second call finds the partition made and launches nothing.
    again = CliRunner().invoke(backfill_command, [str(home), "--campaign", "test-camp",
                                                  "--market", "de", "--graphql-url", url])
    assert again.exit_code == 0 and "already made" in again.output
    assert "nothing to backfill" in again.output
