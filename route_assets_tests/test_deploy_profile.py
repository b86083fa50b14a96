"""The production profile in deploy/: its dagster.yaml loads as a real PostgreSQL-backed instance
that runs a partition end to end, and the Helm values have the shape Dagster's chart expects."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from sqlalchemy.engine import make_url

from route_assets.assets.video_expansion import clip_limits, rendition_problems
from route_assets.brief import load_brief, parse_brief
from route_assets.catalog import load_placements
from route_assets.partitions import AdSetKey
from route_assets.runner import register, run_ad_set
from route_assets.storage import LocalCreativeStore
from route_assets_tests.test_pipeline import BRIEF, resources

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
_BASE: dict[str, Any] = BRIEF
SMALL = {**_BASE, "ad_sets": [{**_BASE["ad_sets"][0], "candidates": 1, "motion": None,
                               "placements": ["ig-feed-square"]}]}
STAGES = ["base_generation", "flaw_classification", "surgical_edit", "qa_resize",
          "video_expansion"]


def _admin(url: str, statement: str) -> None:
    parsed = make_url(url)
    conn = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                            dbname="postgres")
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def pg_env(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """DAGSTER_PG_* for a database of this test's own (Dagster creates its tables there)."""
    url, name = make_url(postgres_url), f"dagster_{uuid.uuid4().hex[:12]}"
    _admin(postgres_url, f"CREATE DATABASE {name}")
    env = {"DAGSTER_PG_USERNAME": url.username or "postgres",
           # the test cluster trusts loopback, so any password passes; it must still be set
           "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
           "DAGSTER_PG_HOST": url.host or "127.0.0.1", "DAGSTER_PG_PORT": str(url.port),
           "DAGSTER_PG_DB": name}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield env
    finally:
        _admin(postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


def test_deploy_instance_is_postgres_and_runs_a_partition(pg_env, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    store = LocalCreativeStore(tmp_path / "store")
    key = AdSetKey("test-camp", "hero")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 4

        register(instance, store, parse_brief(SMALL, source="test"))
        outcome = run_ad_set(instance, key, max_rerolls=1, resources=resources(store))
        assert outcome.success, outcome.error
        run = instance.get_run_by_id(outcome.run_ids[-1])
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        for asset in STAGES:
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {str(key)}

    # Read back with plain SQL: the events are in PostgreSQL, not in some local fallback.
    conn = psycopg2.connect(host=pg_env["DAGSTER_PG_HOST"], port=int(pg_env["DAGSTER_PG_PORT"]),
                            user=pg_env["DAGSTER_PG_USERNAME"], dbname=pg_env["DAGSTER_PG_DB"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT asset_key, partition FROM event_logs "
                           "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            rows = cursor.fetchall()
            cursor.execute("SELECT partition FROM dynamic_partitions")
            partitions = {r[0] for r in cursor.fetchall()}
    finally:
        conn.close()
    assert sorted(rows) == sorted((f'["{a}"]', str(key)) for a in STAGES)
    assert partitions == {str(key)}
    assert not list(home.glob("**/*.db")), "SQLite storage appeared beside the PG profile"


def test_deploy_concurrency_matches_the_project_file():
    project = yaml.safe_load((DEPLOY.parent / "dagster.yaml").read_text())
    deploy = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert deploy["concurrency"] == project["concurrency"]
    assert deploy["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert "run_coordinator" not in deploy  # concurrency.runs is the run queue's config


def test_helm_values_have_the_chart_shape():
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert {"envSecrets", "loadInclusterConfig", "imagePullPolicy"} <= set(k8s)
    assert {"name": "route-assets-providers"} in k8s["envSecrets"]
    resources_ = k8s["runK8sConfig"]["containerConfig"]["resources"]
    assert {"requests", "limits"} <= set(resources_)
    pg = values["postgresql"]
    assert pg["postgresqlScheme"] == "postgresql+psycopg2" and pg["enabled"] is False
    assert values["global"]["postgresqlSecretName"] and not values[
        "generatePostgresqlPasswordSecret"]
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "route_assets.definitions"]
    assert deployment["image"]["repository"] and deployment["port"] == 3030
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    # The chart's camelCase concurrency block mirrors the instance file's snake_case one.
    project = yaml.safe_load((DEPLOY.parent / "dagster.yaml").read_text())["concurrency"]
    chart = values["concurrency"]
    assert chart["enabled"] is True
    assert chart["runs"]["maxConcurrentRuns"] == project["runs"]["max_concurrent_runs"]
    assert chart["runs"]["tagConcurrencyLimits"] == project["runs"]["tag_concurrency_limits"]
    assert chart["pools"] == {"defaultLimit": project["pools"]["default_limit"],
                              "granularity": project["pools"]["granularity"]}


def _every_video_rendition_passes_and_ffprobe_decodes_it(folder: Path, placements: list[str]
                                                         ) -> None:
    """Each video placement's file meets its placement's check and decodes to the last frame
    with no error in ffmpeg's own decoder."""
    catalog = load_placements()
    wanted = {p for p in placements if catalog.get(p).video}
    made = {f.name.removesuffix(".mp4") for f in (folder / "video_expansion").glob("*.mp4")}
    assert made == wanted
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe is required (Debian: ffmpeg)"
    for placement in sorted(wanted):
        spec = catalog.get(placement)
        path = folder / "video_expansion" / f"{placement}.mp4"
        assert rendition_problems(path.read_bytes(), clip_limits(spec)) == [], path
        out = subprocess.run(
            [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
             "stream=codec_name,width,height,pix_fmt,nb_read_frames", "-of", "json", str(path)],
            capture_output=True, check=True)
        assert out.stderr == b"", (path, out.stderr)  # no decode error anywhere in the stream
        stream = json.loads(out.stdout)["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"], stream["pix_fmt"]) == (
            "h264", spec.width, spec.height, "yuv420p")
        assert int(stream["nb_read_frames"]) >= 1


def test_the_whole_demo_runs_on_the_postgres_profile(pg_env, postgres_url, tmp_path):
    """`make demo`'s campaign through the CLI with the deploy profile: Dagster storage and the
    ledger/journal both in PostgreSQL."""
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {**os.environ, **pg_env, "ROUTE_ASSETS_HOME": str(home),
           "DAGSTER_HOME": str(home / "dagster"), "ROUTE_ASSETS_DB_URL": postgres_url}
    for key in ("FAL_KEY", "REPLICATE_API_TOKEN", "BFL_API_KEY", "GEMINI_API_KEY"):
        env.pop(key, None)
    example = DEPLOY.parent / "examples" / "briefs" / "summer-glow.yaml"
    exe = str(Path(sys.executable).parent / "route-assets")
    done = subprocess.run([exe, "run", str(example)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    brief = load_brief(example)
    store = home / "store" / "summer-glow"
    for ad_set in brief.ad_sets:
        assert (store / ad_set.id / "surgical_edit" / "master.png").is_file()
        videos = ad_set.placements if ad_set.motion is not None else []  # stills only otherwise
        _every_video_rendition_passes_and_ffprobe_decodes_it(store / ad_set.id, videos)
    assert (store / "cost_report.csv").is_file()
    conn = psycopg2.connect(host=pg_env["DAGSTER_PG_HOST"], port=int(pg_env["DAGSTER_PG_PORT"]),
                            user=pg_env["DAGSTER_PG_USERNAME"], dbname=pg_env["DAGSTER_PG_DB"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT (asset_key, partition)) FROM event_logs "
                           "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                           "AND partition IS NOT NULL")
            (made,) = cursor.fetchone()
    finally:
        conn.close()
    assert made == len(brief.ad_sets) * len(STAGES)
    assert not list(home.glob("dagster/**/*.db")), "SQLite storage beside the PG profile"
    assert not (home / "route_assets.db").exists(), "the ledger stayed in PostgreSQL"
