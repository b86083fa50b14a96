"""Shared fixtures. Provider tests talk to one emulator per module, reset between tests.
S3 tests run against a real S3-compatible server over loopback HTTP.

moto's server mode serves the S3 REST API on 127.0.0.1, so boto3 goes through its full HTTP
stack (signing, addressing, error bodies) instead of moto's in-process patching.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy.engine import make_url

from route_assets.db import engine_for
from route_assets.emulator import Emulator


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server shared by the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: any free
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_test_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials only, so a test can never reach a real account or a user's profile."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no slow IMDS probe
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # a proxy must not see loopback
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def s3_client(s3_server: str, aws_test_env: None) -> Any:
    """A raw boto3 client for the test server, to arrange and inspect bucket contents."""
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A fresh, empty bucket per test (the server lives for the session, so names are unique)."""
    name = f"test-{uuid.uuid4().hex[:24]}"
    s3_client.create_bucket(Bucket=name)
    return name


# --- PostgreSQL: a real throw-away server for the ledger and journal (never mocked, never
# skipped: the locking that keeps concurrent runs inside a budget is PostgreSQL's own).


def _postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                        reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    return next((d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()),
                None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """`postgresql+psycopg2://postgres@127.0.0.1:PORT/route_assets` on a fresh cluster."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: .ci/run installs "
                    "them (apt-get install postgresql); locally install the postgresql package")
    # initdb refuses to run as root, so as root the cluster belongs to the postgres user; the
    # directory is made with mkdtemp under /tmp because pytest's tmp dirs are root-only (0700).
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="route-assets-pg-"))
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            pytest.fail(f"{' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}{log}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
    # fsync off: a test cluster never needs to survive a power cut, and it makes commits cheap
    options = (f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
        "-t", "60", "-o", options, "start")
    try:
        _pg_admin(port, "CREATE DATABASE route_assets")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/route_assets"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], cwd=root, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _pg_admin(port: int, *statements: str) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Any]:
    """An engine on a database of its own, tables created (a clean schema for every test);
    worker processes connect with `pg_engine.url.render_as_string(hide_password=False)`."""
    url = make_url(postgres_url)
    assert url.port is not None
    name = f"t_{uuid.uuid4().hex[:16]}"
    _pg_admin(url.port, f"CREATE DATABASE {name}")
    engine = engine_for(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        _pg_admin(url.port, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(running: Emulator) -> Iterator[Emulator]:
    """The module's emulator, reset; every test ends with no emulator bug."""
    running.reset()
    yield running
    assert running.errors == []
