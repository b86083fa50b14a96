"""A real run of the pipeline to qa_resize for every placement in the catalog: every file passes
its placement's check, and exiftool (a reader we did not write) reads the disclosure back from
every final file, after C2PA signing with a certificate made in the test."""

import json
import shutil
import subprocess

import dagster as dg
import pytest

from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog, load_placements
from route_assets.db import engine_for
from route_assets.engines.registry import local_engines
from route_assets.imaging import codecs, provenance
from route_assets.ledger import Ledger
from route_assets.partitions import AdSetKey
from route_assets.runner import register, run_ad_set
from route_assets.storage import LocalCreativeStore
from route_assets_tests.imaging.test_provenance import pki  # noqa: F401  (fixture)

ALL = list(load_placements().ids)
BRIEF = {
    "campaign": "qa-camp",
    "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 5.0,
    "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
    "ad_sets": [{"id": "all", "market": "us", "tier": "draft", "prompt": "a sunscreen bottle",
                 "subject": "sunscreen bottle", "candidates": 1, "placements": ALL}],
}
KEY = AdSetKey("qa-camp", "all")


def test_every_placement_file_passes_and_exiftool_reads_the_disclosure(
        tmp_path, monkeypatch, pki):  # noqa: F811
    folder, root_pem = pki
    monkeypatch.setenv("ROUTE_ASSETS_C2PA_CERT", str(folder / "chain.pem"))
    monkeypatch.setenv("ROUTE_ASSETS_C2PA_KEY", str(folder / "key.pem"))
    store = LocalCreativeStore(tmp_path / "store")
    resources = {"store": store, "engines": local_engines(load_catalog()),
                 "ledger": Ledger(engine_for(f"sqlite:///{tmp_path}/ledger.db"))}
    with dg.instance_for_test() as instance:
        register(instance, store, parse_brief(BRIEF, source="test"))
        outcome = run_ad_set(instance, KEY, max_rerolls=2, resources=resources)
    assert outcome.success, outcome.error
    meta = outcome.metadata["qa_resize"]
    assert meta["placements"] == len(ALL)
    # What the blocking asset check evaluates, per placement: no problems, and signed.
    assert all(not d["problems"] and d["c2pa"] for d in meta["renditions"].values()), meta

    paths = []
    for spec in load_placements().placements:
        path = tmp_path / "store" / f"qa-camp/all/qa_resize/{spec.id}.jpg"
        data = path.read_bytes()
        assert codecs.decode(data).shape == (spec.height, spec.width, 3)
        assert len(data) <= spec.max_bytes
        signed = provenance.verify(data, fmt="jpeg", trust_anchors_pem=root_pem)
        expected = codecs.COMPOSITE if meta["renditions"][spec.id]["source_type"].startswith(
            "composite") else codecs.GENERATED
        assert signed.state == "Trusted" and signed.source_type == expected, signed
        assert codecs.read_disclosure(data) == expected
        paths.append((path, expected))

    exe = shutil.which("exiftool")
    assert exe, "exiftool is required (Debian: apt-get install libimage-exiftool-perl)"
    out = subprocess.run([exe, "-json", "-XMP-iptcExt:DigitalSourceType", "-ICC_Profile:all",
                          *(str(p) for p, _ in paths)], capture_output=True, text=True,
                         check=True).stdout
    by_file = {row["SourceFile"]: row for row in json.loads(out)}
    for path, expected in paths:
        row = by_file[str(path)]
        assert row["DigitalSourceType"] == expected, row
        assert row["ProfileDescription"].startswith("sRGB"), row


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_exiftool_reads_what_we_write_in_every_format(fmt, tmp_path):
    from skimage import data

    blob, _ = codecs.encode_for_placement(data.chelsea(), fmt=fmt, max_bytes=10_000_000,
                                          source_type=codecs.COMPOSITE)
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(blob)
    exe = shutil.which("exiftool")
    assert exe, "exiftool is required (Debian: apt-get install libimage-exiftool-perl)"
    row = json.loads(subprocess.run([exe, "-json", str(path)], capture_output=True, text=True,
                                    check=True).stdout)[0]
    assert row["DigitalSourceType"] == codecs.COMPOSITE == codecs.read_disclosure(blob)
    assert row["ProfileDescription"].startswith("sRGB")
