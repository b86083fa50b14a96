"""A run killed with SIGKILL while a paid request is in flight resumes that request on the
next run: exactly one submission, counted by the emulator."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from route_assets.db import engine_for
from route_assets.emulator.server import Emulator
from route_assets.journal import SqlRequestJournal

BRIEF = {
    "campaign": "crash",
    "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 5.0,
    "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
    "ad_sets": [{"id": "hero", "market": "us", "tier": "hero", "prompt": "a sunscreen bottle",
                 "subject": "sunscreen bottle", "candidates": 1,
                 "placements": ["ig-feed-square"]}],
}


BASE_MODEL = "flux-pro-1.1"  # the hero tier's generator, on BFL's API


def test_sigkill_mid_request_then_rerun_submits_once(tmp_path):
    brief = tmp_path / "brief.yaml"
    brief.write_text(yaml.safe_dump(BRIEF))
    exe = str(Path(sys.executable).parent / "route-assets")
    with Emulator(latency_s=6.0) as emu:
        env = {**os.environ, **emu.env(), "ROUTE_ASSETS_HOME": str(tmp_path / "home"),
               "DAGSTER_HOME": str(tmp_path / "home" / "dagster")}
        env.pop("ROUTE_ASSETS_DB_URL", None)
        journal = SqlRequestJournal(engine_for(f"sqlite:///{tmp_path}/home/route_assets.db"))
        first = subprocess.Popen([exe, "run", str(brief)], env=env, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        deadline = time.monotonic() + 90
        while not journal.entries("submitted"):
            assert first.poll() is None, "the first run ended before its request was in flight"
            assert time.monotonic() < deadline, "no request went in flight"
            time.sleep(0.1)
        assert emu.submissions("bfl") == 1
        (in_flight,) = journal.entries("submitted")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)

        second = subprocess.run([exe, "run", str(brief)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        # The generation in flight was resumed, not re-submitted: every accepted generation asked
        # for its own seed (the second run may re-roll with new seeds and pay for edits, each
        # request once).
        seeds = [body.get("seed") for body in emu.inputs("bfl", BASE_MODEL)]
        assert seeds and len(seeds) == len(set(seeds)), seeds
        assert emu.attempts() == emu.submissions()  # nothing refused, nothing retried blindly
        resumed = journal.find(in_flight.fingerprint)
        assert resumed is not None and resumed.state == "completed"
        entries = journal.entries(None)
        assert {e.state for e in entries} == {"completed"}
        assert emu.submissions() == len(entries)  # one journal entry per paid submission
    assert (tmp_path / "home/store/crash/hero/qa_resize/ig-feed-square.jpg").is_file()
