import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from route_assets.brief import BriefError, load_brief, parse_brief
from route_assets.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "briefs" / "summer-glow.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_brief_is_a_realistic_campaign():
    brief = load_brief(EXAMPLE)
    resolved = [brief.ad_set(a.id) for a in brief.ad_sets]
    assert len(resolved) >= 6 and len(brief.markets) >= 2
    assert len({a.tier for a in resolved}) >= 3
    assert len({p for a in resolved for p in a.placements}) >= 5
    assert sum(a.motion is not None for a in resolved) >= 2


def test_defaults_and_market_fill_in_ad_sets():
    brief = load_brief(EXAMPLE)
    runner = brief.ad_set("us-lifestyle-runner")
    assert runner.headline == "Glow all summer. SPF 50." and runner.locale == "en-US"
    assert runner.candidates == 3 and runner.motion is None
    assert brief.ad_set("us-text-offer").headline == "20% off your first summer kit"


def test_changing_one_ad_set_changes_only_its_sha():
    data = example()
    before = parse_brief(data, source="x")
    data["ad_sets"][1]["prompt"] += " at dawn"
    after = parse_brief(data, source="x")
    changed = [a.id for a in before.ad_sets
               if before.ad_set(a.id).sha != after.ad_set(a.id).sha]
    assert changed == ["us-lifestyle-runner"]


BAD = {
    "unknown placement": (lambda d: d["ad_sets"][0]["placements"].append("myspace-banner"),
                          "ad_sets[0](id='us-hero-bottle').placements", "myspace-banner"),
    "path-like ad-set id": (lambda d: d["ad_sets"][2].update(id="../x"),
                            "ad_sets[2](id='../x').id", "lowercase letters, digits"),
    "negative budget": (lambda d: d.update(budget_usd=-5), "budget_usd",
                        "set a positive amount"),
    "malformed palette": (lambda d: d["brand"]["palette"].__setitem__(1, "orange"),
                          "brand.palette", "'#RRGGBB'"),
    "unknown market": (lambda d: d["ad_sets"][0].update(market="fr"),
                       "ad_sets[0](id='us-hero-bottle').market", "use one of"),
    "duplicate ad set": (lambda d: d["ad_sets"][1].update(id="us-hero-bottle"), ".id",
                         "duplicate"),
    "misspelt field": (lambda d: d["ad_sets"][0].update(placement=["x"]),
                       "ad_sets[0](id='us-hero-bottle').placement", "check its spelling"),
    "unknown threshold": (lambda d: d.update(policy={"thresholds": {"blurr": 1.0}}),
                          "policy.thresholds", "known thresholds"),
    "bad policy value": (lambda d: d.update(policy={"max_rerolls": -1}), "policy.max_rerolls",
                         "greater than or equal to 0"),
    "bad time zone": (lambda d: d["refresh"].update(timezone="Mars/Base"), "refresh.timezone",
                      "IANA"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_names_file_field_and_fix_and_writes_nothing(case, tmp_path):
    mutate, field, fix = BAD[case]
    data = example()
    mutate(data)
    brief = tmp_path / "bad.yaml"
    brief.write_text(yaml.safe_dump(data))
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["validate", str(brief)], env={"ROUTE_ASSETS_HOME":
                                                                   str(tmp_path / "home")})
    assert result.exit_code == 2
    assert str(brief) in result.output and field in result.output and fix in result.output
    assert sorted(tmp_path.rglob("*")) == before


def test_valid_brief_validates(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "7 ad sets, 2 markets" in result.output


def test_unreadable_and_non_mapping_briefs(tmp_path):
    with pytest.raises(BriefError, match="cannot read brief"):
        load_brief(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(BriefError, match="must be a YAML mapping"):
        load_brief(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("campaign: [unclosed\n")
    with pytest.raises(BriefError, match="not valid YAML"):
        load_brief(tmp_path / "broken.yaml")


def test_installed_command_rejects_a_bad_brief(tmp_path):
    """The console script a user types, in a clean working directory."""
    data = example()
    data["budget_usd"] = -1
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    exe = shutil.which("route-assets", path=os.path.dirname(sys.executable))
    assert exe, "route-assets console script is installed with the package"
    proc = subprocess.run([exe, "validate", "b.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "b.yaml" in proc.stderr and "budget_usd" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml"]


def test_plan_prints_decisions_and_spends_nothing(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(EXAMPLE)],
                                env={"ROUTE_ASSETS_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    assert "flux-1.1-pro" in result.output and "veo-3.1-fast" in result.output
    assert "estimated first-pass cost $" in result.output
    assert not (tmp_path / "home").exists()
