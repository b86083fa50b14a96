"""The operator commands around hosted providers: `emulate` and `requests list/forget`."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from route_assets.cli import main
from route_assets.db import engine_for
from route_assets.journal import SqlRequestJournal
from route_assets.providers.base import Submission


def test_emulate_serves_the_provider_apis_it_prints(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = str(Path(sys.executable).parent / "route-assets")
    proc = subprocess.Popen([exe, "emulate", "--port", str(port), "--latency", "0"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        exports = dict(line.strip().removeprefix("export ").split("=", 1)
                       for line in lines if "export" in line)
        assert exports["FAL_BASE_URL"] == f"http://127.0.0.1:{port}/fal"
        submit = httpx.post(f"{exports['FAL_BASE_URL']}/fal-ai/flux/schnell",
                            json={"prompt": "a bottle", "image_size": {"width": 64, "height": 64}},
                            headers={"Authorization": f"Key {exports['FAL_KEY']}"}, timeout=30)
        assert submit.status_code == 200 and submit.json()["request_id"]
        denied = httpx.post(f"{exports['FAL_BASE_URL']}/fal-ai/flux/schnell", json={},
                            headers={"Authorization": "Key wrong"}, timeout=30)
        assert denied.status_code in (401, 403)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_requests_list_and_forget(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTE_ASSETS_DB_URL", f"sqlite:///{tmp_path}/money.db")
    journal = SqlRequestJournal(engine_for(f"sqlite:///{tmp_path}/money.db"))
    stuck, done = "a" * 64, "b" * 64
    journal.begin(stuck, provider="bfl", model="flux-1.1-pro")
    journal.begin(done, provider="fal", model="flux-dev")
    journal.submitted(done, Submission(provider="fal", model="flux-dev", request_id="req-9",
                                       poll_url="https://queue.fal.run/x/status"))
    listed = CliRunner().invoke(main, ["requests", "list"])
    assert listed.exit_code == 0
    assert "submitting" in listed.output and "req-9" in listed.output
    only = CliRunner().invoke(main, ["requests", "list", "--state", "submitting"])
    assert "req-9" not in only.output and "aaaaaaaa" in only.output
    forgot = CliRunner().invoke(main, ["requests", "forget", "aaaa"])
    assert forgot.exit_code == 0 and "submitting" in forgot.output
    assert journal.find(stuck) is None and journal.find(done) is not None
    ambiguous = CliRunner().invoke(main, ["requests", "forget", "c"])
    assert ambiguous.exit_code == 2 and "0 entries match" in ambiguous.output
