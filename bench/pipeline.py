"""Time every stage of the example campaign on the embedded default and print the figures.

    .venv/bin/python bench/pipeline.py [BRIEF] [--ad-sets N]

Runs on a throw-away SQLite instance and store; prints seconds per stage per ad set (from the
orchestrator's step events) and the median per stage.
"""

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg

from route_assets.brief import load_brief
from route_assets.catalog import load_catalog
from route_assets.engines.registry import local_engines
from route_assets.runner import register, run_ad_set
from route_assets.storage import LocalCreativeStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "briefs" / "summer-glow.yaml"


def stage_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            out[event.step_key] = entry.timestamp - started[event.step_key]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("brief", nargs="?", default=str(EXAMPLE))
    parser.add_argument("--ad-sets", type=int, default=0, help="only the first N ad sets")
    args = parser.parse_args()
    brief = load_brief(args.brief)
    per_stage: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        store = LocalCreativeStore(Path(tmp) / "store")
        resources = {"store": store, "engines": local_engines(load_catalog())}
        keys = register(instance, store, brief)[: args.ad_sets or None]
        for key in keys:
            started = time.perf_counter()
            outcome = run_ad_set(instance, key, max_rerolls=2, resources=resources)
            wall = time.perf_counter() - started
            stages = {}
            for run_id in outcome.run_ids:
                for stage, seconds in stage_seconds(instance, run_id).items():
                    stages[stage] = stages.get(stage, 0.0) + seconds
            for stage, seconds in stages.items():
                per_stage[stage].append(seconds)
            cells = "  ".join(f"{s}={t:.2f}s" for s, t in stages.items())
            print(f"{key}: wall {wall:.2f}s, attempts {outcome.attempts}  {cells}")
    print("\nmedian seconds per ad set:")
    for stage, values in per_stage.items():
        print(f"  {stage:22s} {statistics.median(values):6.2f}  (n={len(values)})")


if __name__ == "__main__":
    main()
