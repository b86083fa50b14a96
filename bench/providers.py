"""Provider throughput against the emulator: C workers (the pool limit) each running the real
fal client (submit, poll, result, download, journal) against jobs that take L seconds. The
emulator runs in its own process, as a remote provider would.

    .venv/bin/python bench/providers.py [--latency 1.0] [--pool 8] [--requests 64]

Prints achieved requests per second and its ratio to the ideal C / L. The client's polling and
the per-request overhead are what keep the ratio below 1.
"""

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from route_assets.catalog import load_catalog
from route_assets.db import engine_for
from route_assets.emulator.server import DEFAULT_KEYS
from route_assets.journal import SqlRequestJournal
from route_assets.providers.base import ImageRequest
from route_assets.providers.fal import FalProvider

MODEL = "flux-schnell"


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"emulator did not start on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0, help="L: seconds per job")
    parser.add_argument("--pool", type=int, default=8, help="C: concurrent requests")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--poll", type=float, default=0.05, help="client poll interval (s)")
    args = parser.parse_args()
    endpoint = load_catalog().get(MODEL).endpoints["fal"].endpoint
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = f"http://127.0.0.1:{port}"
    exe = str(Path(sys.executable).parent / "route-assets")
    server = subprocess.Popen([exe, "emulate", "--port", str(port), "--latency",
                               str(args.latency)], stdout=subprocess.DEVNULL)
    _wait_for_port(port)
    with tempfile.TemporaryDirectory() as tmp:
        journal = SqlRequestJournal(engine_for(f"sqlite:///{Path(tmp) / 'journal.db'}"))
        client = FalProvider(api_key=DEFAULT_KEYS["fal"], base_url=f"{root}/fal",
                             journal=journal, price_usd=0.003, poll_interval_s=args.poll,
                             trusted_base=root)

        def one(i: int) -> float:
            started = time.perf_counter()
            client.generate(ImageRequest(model=MODEL, endpoint=endpoint, prompt=f"bottle {i}",
                                         subject="bottle", headline="Bench", palette=("#F2C14E",),
                                         width=256, height=256, seed=i))
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.pool) as pool:
            latencies = sorted(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - started
        completed = journal.entries("completed")
        assert len(completed) == args.requests, "every request submitted once and completed"
    server.terminate()
    server.wait(timeout=30)
    achieved = args.requests / wall
    ideal = args.pool / args.latency
    print(f"L={args.latency:g}s C={args.pool} N={args.requests}: {wall:.2f}s wall, "
          f"{achieved:.2f} req/s achieved, ideal C/L = {ideal:.2f} req/s, "
          f"ratio {achieved / ideal:.3f}")
    print(f"per-request latency p50 {latencies[len(latencies) // 2]:.3f}s, "
          f"max {latencies[-1]:.3f}s")


if __name__ == "__main__":
    main()
