"""The budget ledger on SQLite and on a real PostgreSQL server, including 8 OS processes racing
for one campaign's budget."""

import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from route_assets.db import DatabaseUrlError, engine_for
from route_assets.ledger import BudgetExceeded, Ledger, LedgerError, Reservation
from route_assets_tests.processes import WORKERS, run_processes


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_engine")
        return
    sqlite_engine = engine_for(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield sqlite_engine
    sqlite_engine.dispose()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def reserve(ledger: Ledger, amount: float, *, budget: float = 1.0,
            campaign: str = "summer-glow") -> Reservation:
    return ledger.reserve(campaign=campaign, budget_usd=budget, amount_usd=amount,
                          stage="keyframe", model="flux-dev", provider="fal")


# --- reserve / settle / release


def test_reserve_holds_money_until_settled_with_the_real_cost(engine: Engine) -> None:
    ledger = Ledger(engine)
    held = reserve(ledger, 0.25)
    assert held.campaign == "summer-glow" and held.amount_usd == 0.25
    assert (ledger.spent("summer-glow"), ledger.committed("summer-glow")) == (0.0, 0.25)
    assert ledger.lines("summer-glow") == []

    ledger.settle(held, actual_usd=0.2, request_id="req-1")
    assert (ledger.spent("summer-glow"), ledger.committed("summer-glow")) == (0.2, 0.2)
    [line] = ledger.lines("summer-glow")
    assert {k: line[k] for k in ("stage", "model", "provider", "usd", "request_id", "cached")} == {
        "stage": "keyframe", "model": "flux-dev", "provider": "fal", "usd": 0.2,
        "request_id": "req-1", "cached": False}
    assert line["settled_at"].tzinfo is not None
    assert ledger.spent("other-campaign") == 0.0


def test_settle_is_idempotent_and_refuses_a_different_second_settle(engine: Engine) -> None:
    ledger = Ledger(engine)
    held = reserve(ledger, 0.1)
    ledger.settle(held, actual_usd=0.1, request_id="req-1")
    ledger.settle(held, actual_usd=0.1, request_id="req-1")  # a retry after a lost reply
    assert ledger.spent("summer-glow") == 0.1 and len(ledger.lines("summer-glow")) == 1
    with pytest.raises(LedgerError, match="already settled at \\$0.10 for request 'req-1'"):
        ledger.settle(held, actual_usd=0.1, request_id="req-2")
    with pytest.raises(LedgerError, match="no reservation 999"):
        ledger.settle(Reservation(999, "summer-glow", 0.1), actual_usd=0.1, request_id="x")


def test_release_frees_the_reservation_but_never_erases_spend(engine: Engine) -> None:
    ledger = Ledger(engine)
    failed = reserve(ledger, 0.6)
    ledger.release(failed)
    ledger.release(failed)  # idempotent
    assert ledger.committed("summer-glow") == 0.0
    paid = reserve(ledger, 0.6)  # the released 0.60 is available again
    ledger.settle(paid, actual_usd=0.6, request_id="req-2")
    ledger.release(paid)  # an error path after settling: the spend stays
    assert ledger.spent("summer-glow") == 0.6
    # a provider that billed after all: the released reservation's spend is still recorded
    ledger.settle(failed, actual_usd=0.6, request_id="req-late")
    assert ledger.spent("summer-glow") == 1.2


def test_cached_calls_are_recorded_and_free_calls_pass_an_exhausted_budget(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.settle(reserve(ledger, 1.0), actual_usd=1.5, request_id="req-over")  # cost > estimate
    assert ledger.committed("summer-glow") == 1.5
    hit = reserve(ledger, 0.0)
    ledger.settle(hit, actual_usd=0.0, request_id="req-over", cached=True)
    assert [line["cached"] for line in ledger.lines("summer-glow")] == [False, True]
    with pytest.raises(BudgetExceeded):
        reserve(ledger, 0.01)


def test_arithmetic_is_exact_in_micro_dollars(engine: Engine) -> None:
    ledger = Ledger(engine)
    assert 0.1 + 0.2 > 0.3  # what float sums would get wrong
    for amount in (0.1, 0.2):
        ledger.settle(reserve(ledger, amount, budget=0.3), actual_usd=amount, request_id="r")
    assert ledger.spent("summer-glow") == 0.3
    with pytest.raises(BudgetExceeded):
        reserve(ledger, 0.000001, budget=0.3)
    for _ in range(10):
        ledger.settle(reserve(ledger, 0.1, campaign="tenths"), actual_usd=0.1, request_id="r")
    assert ledger.spent("tenths") == 1.0
    # sub-micro amounts round up and budgets down, never in the spender's favour
    assert reserve(ledger, 0.0000001, campaign="tiny").amount_usd == 0.000001
    with pytest.raises(BudgetExceeded):
        reserve(ledger, 0.5, budget=0.4999999, campaign="floor")


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_nonsense_amounts_are_refused(engine: Engine, bad: float) -> None:
    ledger = Ledger(engine)
    with pytest.raises(ValueError, match="amount_usd must be a finite amount"):
        reserve(ledger, bad)
    with pytest.raises(ValueError, match="budget_usd"):
        reserve(ledger, 0.1, budget=bad)


def test_budget_exceeded_says_what_is_committed_and_how_to_fix_it(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.settle(reserve(ledger, 6.0, budget=10.0), actual_usd=6.0, request_id="r1")
    reserve(ledger, 3.5, budget=10.0)  # still in flight
    with pytest.raises(BudgetExceeded) as caught:
        reserve(ledger, 0.75, budget=10.0)
    error = caught.value
    assert (error.campaign, error.budget_usd, error.spent_usd, error.reserved_usd,
            error.committed_usd, error.amount_usd) == ("summer-glow", 10.0, 6.0, 3.5, 9.5, 0.75)
    message = str(error)
    for part in ("'summer-glow'", "budget of $10.00", "$9.50 is already committed",
                 "$6.00 spent", "$3.50 reserved", "$0.75 more", "$10.25 in all",
                 "budget_usd in the brief", "candidates", "motion"):
        assert part in message, (part, message)
    assert ledger.committed("summer-glow") == 9.5  # the refused call reserved nothing


# --- the database


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'ledger.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine_for(str(engine.url)).dispose()  # creating the schema again is harmless
    engine.dispose()


def test_default_url_comes_from_the_environment_then_the_home_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTE_ASSETS_DB_URL", raising=False)
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path / "home"))
    engine = engine_for()
    assert engine.url.database == str(tmp_path / "home" / "route_assets.db")
    assert (tmp_path / "home" / "route_assets.db").exists()
    engine.dispose()
    monkeypatch.setenv("ROUTE_ASSETS_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    engine = engine_for()
    assert engine.url.database == str(tmp_path / "env.db")
    engine.dispose()


@pytest.mark.parametrize("url, needle", [
    ("postgresql://ads:s3cret-pw@db.example/ledger", "postgresql+psycopg2://"),
    ("postgres://ads:s3cret-pw@db.example/ledger", "postgresql+psycopg2://"),
    ("postgresql+psycopg://ads:s3cret-pw@db.example/ledger", "postgresql+psycopg2://"),
    ("mysql://ads:s3cret-pw@db.example/ledger", "only sqlite"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
])
def test_unusable_urls_are_refused_without_showing_the_password(url: str, needle: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        engine_for(url)
    assert needle in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


# --- concurrency


def test_threads_sharing_one_engine_never_overspend(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger, granted = Ledger(engine), []

    def spend() -> None:
        for _ in range(20):
            try:
                held = reserve(ledger, 0.05)
            except BudgetExceeded:
                return
            ledger.settle(held, actual_usd=0.05, request_id="t")
            granted.append(held)

    threads = [threading.Thread(target=spend) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 20 and ledger.spent("summer-glow") == 1.0
    engine.dispose()


CAMPAIGNS, SLOTS = 20, 5  # 20 campaigns of $0.05 each, spent $0.01 at a time


def _race_worker(url: str, barrier: Any, results: Any, index: int) -> None:
    """All workers fight over one campaign at a time (an overspend can only happen at the
    budget's edge, so many small campaigns give the race many chances). Per campaign: reserve
    and release once (a failed call), then reserve and settle until refused. The last worker
    refused sees no open reservations, so each budget ends exactly full when the lock works."""
    try:
        engine = engine_for(url)
        ledger, settled = Ledger(engine), 0
        for number in range(CAMPAIGNS):
            campaign = f"race-{number}"
            barrier.wait(timeout=60)
            try:
                ledger.release(reserve(ledger, 0.01, budget=0.05, campaign=campaign))
            except BudgetExceeded:
                pass
            while True:
                try:
                    held = reserve(ledger, 0.01, budget=0.05, campaign=campaign)
                except BudgetExceeded:
                    break
                ledger.settle(held, actual_usd=0.01, request_id=f"w{index}-{settled}")
                settled += 1
        engine.dispose()
        results.put(("ok", settled))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def test_eight_processes_never_overspend_and_fill_the_budget(engine: Engine) -> None:
    settled = run_processes(_race_worker, (url_of(engine),))
    ledger = Ledger(engine)
    spent = {ledger.spent(f"race-{n}") for n in range(CAMPAIGNS)}
    assert spent == {0.05}  # never more, and not a cent less
    assert {ledger.committed(f"race-{n}") for n in range(CAMPAIGNS)} == {0.05}
    assert sum(settled) == CAMPAIGNS * SLOTS
