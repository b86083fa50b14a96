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
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)

        second = subprocess.run([exe, "run", str(brief)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        assert emu.submissions("bfl") == 1  # resumed, not re-submitted
        assert emu.attempts("bfl") == 1
        assert [e.state for e in journal.entries(None)] == ["completed"]
    assert (tmp_path / "home/store/crash/hero/qa_resize/ig-feed-square.jpg").is_file()
