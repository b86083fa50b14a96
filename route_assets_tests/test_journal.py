"""The SQL request journal on SQLite and on a real PostgreSQL server: its lifecycle, and that
of 8 processes racing to submit one request exactly one may."""

import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from route_assets.db import engine_for
from route_assets.journal import JournalConflict, JournalStateError, SqlRequestJournal
from route_assets.providers.base import JournalEntry, Submission
from route_assets_tests.processes import run_processes

FP = "f" * 64
SUBMISSION = Submission(provider="fal", model="flux-dev", request_id="req-123",
                        poll_url="https://queue.example/requests/req-123/status",
                        result_url="https://queue.example/requests/req-123",
                        cancel_url=None, reported_cost_usd=0.025)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_engine")
        return
    sqlite_engine = engine_for(f"sqlite:///{tmp_path / 'journal.db'}")
    yield sqlite_engine
    sqlite_engine.dispose()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_lifecycle(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    assert journal.find(FP) is None
    journal.begin(FP, provider="fal", model="flux-dev")
    assert journal.find(FP) == JournalEntry(FP, "submitting", None, "")
    journal.submitted(FP, SUBMISSION)
    journal.submitted(FP, SUBMISSION)  # a retry after a lost reply is harmless
    assert journal.find(FP) == JournalEntry(FP, "submitted", SUBMISSION, "")
    assert journal.entries("submitted") == [JournalEntry(FP, "submitted", SUBMISSION, "")]
    journal.completed(FP)
    journal.completed(FP)
    assert journal.find(FP) == JournalEntry(FP, "completed", SUBMISSION, "")
    assert journal.entries("submitted") == [] and len(journal.entries()) == 1
    with pytest.raises(ValueError, match="unknown journal state 'done'"):
        journal.entries("done")


def test_an_existing_entry_blocks_a_second_begin(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    journal.begin(FP, provider="fal", model="flux-dev")
    with pytest.raises(JournalConflict, match="already submitting") as caught:
        journal.begin(FP, provider="fal", model="flux-dev")
    assert caught.value.entry.state == "submitting"
    journal.submitted(FP, SUBMISSION)
    with pytest.raises(JournalConflict, match="already submitted as request req-123"):
        journal.begin(FP, provider="fal", model="flux-dev")
    journal.completed(FP)
    with pytest.raises(JournalConflict, match="already completed"):
        journal.begin(FP, provider="fal", model="flux-dev")


def test_a_failed_request_may_be_begun_again(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    journal.begin(FP, provider="fal", model="flux-dev")
    journal.submitted(FP, SUBMISSION)
    journal.failed(FP, "provider said: NSFW")
    assert journal.find(FP) == JournalEntry(FP, "failed", SUBMISSION, "provider said: NSFW")
    assert [e.fingerprint for e in journal.entries("failed")] == [FP]
    journal.begin(FP, provider="replicate", model="flux-dev")
    assert journal.find(FP) == JournalEntry(FP, "submitting", None, "")


def test_transitions_the_state_machine_forbids(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    with pytest.raises(JournalStateError, match="call begin"):
        journal.submitted(FP, SUBMISSION)
    with pytest.raises(JournalStateError, match="no journal entry"):
        journal.completed(FP)
    journal.begin(FP, provider="fal", model="flux-dev")
    journal.submitted(FP, SUBMISSION)
    second = Submission("fal", "flux-dev", "req-456", "https://queue.example/456")
    with pytest.raises(JournalStateError, match="submitted as req-123; cannot record"):
        journal.submitted(FP, second)  # a second paid submission must never go unnoticed
    journal.completed(FP)
    with pytest.raises(JournalStateError, match="already completed"):
        journal.failed(FP, "late error")
    other = "e" * 64
    journal.begin(other, provider="fal", model="flux-dev")
    journal.failed(other, "refused")
    with pytest.raises(JournalStateError, match="already failed"):
        journal.completed(other)


def test_forget_clears_a_stuck_entry(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    journal.begin(FP, provider="fal", model="flux-dev")
    assert journal.entries("submitting") == [JournalEntry(FP, "submitting", None, "")]
    assert journal.forget(FP) is True
    assert journal.forget(FP) is False
    assert journal.find(FP) is None
    journal.begin(FP, provider="fal", model="flux-dev")


def _begin_worker(url: str, fingerprints: list[str], barrier: Any, results: Any,
                  index: int) -> None:
    try:
        engine = engine_for(url)
        journal, won = SqlRequestJournal(engine), []
        for fingerprint in fingerprints:
            barrier.wait(timeout=60)  # everyone begins the same request at the same moment
            try:
                journal.begin(fingerprint, provider="fal", model=f"worker-{index}")
                won.append(fingerprint)
            except JournalConflict:
                pass
        engine.dispose()
        results.put(("ok", won))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def _find_worker(url: str, fingerprint: str, barrier: Any, results: Any, index: int) -> None:
    try:
        engine = engine_for(url)
        results.put(("ok", SqlRequestJournal(engine).find(fingerprint)))
        engine.dispose()
    except BaseException:
        results.put(("error", traceback.format_exc()))


def test_of_eight_racing_processes_exactly_one_begins(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    fresh, refailed = "a" * 64, "b" * 64
    journal.begin(refailed, provider="fal", model="flux-dev")
    journal.failed(refailed, "timed out")
    won = run_processes(_begin_worker, (url_of(engine), [fresh, refailed]))
    for fingerprint in (fresh, refailed):
        winners = [i for i, fingerprints in enumerate(won) if fingerprint in fingerprints]
        assert len(winners) == 1, (fingerprint, won)
        entry = journal.find(fingerprint)
        assert entry == JournalEntry(fingerprint, "submitting", None, "")


def test_a_new_process_sees_a_submitted_entry(engine: Engine) -> None:
    journal = SqlRequestJournal(engine)
    journal.begin(FP, provider="fal", model="flux-dev")
    journal.submitted(FP, SUBMISSION)
    engine.dispose()  # nothing may live only in this process's connections
    [seen] = run_processes(_find_worker, (url_of(engine), FP), workers=1)
    assert seen == JournalEntry(FP, "submitted", SUBMISSION, "")
