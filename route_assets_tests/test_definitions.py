"""The asset graph as users see it in the UI: a change here is a change to the product."""

from pathlib import Path

import dagster as dg

from route_assets.definitions import defs
from route_assets.partitions import PARTITIONS_NAME

STAGES = ["base_generation", "flaw_classification", "surgical_edit", "qa_resize",
          "video_expansion"]


def graph() -> dict[str, dict[str, object]]:
    out = {}
    for spec in defs.resolve_all_asset_specs():
        out[spec.key.to_user_string()] = {
            "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
            "group": spec.group_name,
            "owners": list(spec.owners),
            "partitioned": spec.partitions_def is not None,
            "described": bool(spec.description),
            "kinds": sorted(spec.kinds),
        }
    return out


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_snapshot():
    g = graph()
    assert sorted(g) == sorted([*STAGES, "campaign_cost_report"])
    assert [g[s]["deps"] for s in STAGES] == [[], ["base_generation"], ["flaw_classification"],
                                              ["surgical_edit"], ["qa_resize"]]
    assert g["campaign_cost_report"]["deps"] == sorted(STAGES)
    for name, node in g.items():
        assert node["group"] == "creative" and node["owners"] == ["team:creative-ops"], name
        assert node["described"] and node["kinds"], name
        assert node["partitioned"] == (name != "campaign_cost_report"), name


def test_every_stage_shares_the_one_dynamic_partitions_definition():
    for spec in defs.resolve_all_asset_specs():
        if spec.key.to_user_string() in STAGES:
            assert isinstance(spec.partitions_def, dg.DynamicPartitionsDefinition)
            assert spec.partitions_def.name == PARTITIONS_NAME


def test_blocking_checks():
    checks = {(c.asset_key.to_user_string(), c.name): c.blocking
              for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)
              for c in a.check_specs}
    assert checks == {
        ("flaw_classification", "usable_candidate"): True,
        ("surgical_edit", "usable_candidate"): True,
        ("qa_resize", "renditions_meet_spec"): True,
        ("video_expansion", "usable_seed"): True,
        ("video_expansion", "clips_decode"): False,
    }


def test_in_process_executor_for_local_runs():
    assert defs.resolve_job_def("creative_job").executor_def.name == "in_process"


def test_project_instance_config_caps_each_provider(tmp_path):
    import shutil

    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    limits = {t["key"]: t["limit"] for t in queue.tag_concurrency_limits}
    instance.dispose()
    assert set(limits) == {"provider/fal", "provider/replicate", "provider/bfl", "provider/gemini"}


def test_runs_are_tagged_with_the_providers_their_routing_uses():
    from route_assets.brief import load_brief
    from route_assets.runner import provider_tags

    brief = load_brief(Path(__file__).resolve().parents[1] / "examples/briefs/summer-glow.yaml")
    assert provider_tags(brief, "us-hero-bottle", frozenset({"local"})) == {}
    tags = provider_tags(brief, "us-hero-bottle", frozenset({"local", "bfl", "gemini"}))
    assert tags == {"provider/bfl": "1", "provider/gemini": "1"}
