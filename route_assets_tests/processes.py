"""Start worker processes at the same instant, for race tests (ledger, journal)."""

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

import pytest

WORKERS = 8


def run_processes(target: Callable[..., None], args: tuple[Any, ...],
                  workers: int = WORKERS) -> list[Any]:
    """Run `target(*args, barrier, results, index)` in spawned processes at once; each worker
    puts ("ok", detail) or ("error", traceback) on `results`."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args, barrier, results, i))
                 for i in range(workers)]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=120) for _ in processes]
    except queue.Empty:
        pytest.fail("a worker process hung")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, "\n".join(errors)
    return [detail for _, detail in outcomes]
