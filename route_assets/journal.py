"""The request journal in the ledger database: paid submissions survive crashes and restarts.

A provider client calls `begin` before it submits, `submitted` as soon as the provider accepts,
then `completed` or `failed`. The fingerprint is the table's primary key, so of two processes
racing to `begin` the same request exactly one wins; the other gets JournalConflict and must
not submit.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from route_assets.db import request_journal
from route_assets.providers.base import JournalEntry, RequestJournal, Submission

log = logging.getLogger(__name__)

STATES = ("submitting", "submitted", "completed", "failed")


class JournalConflict(Exception):
    """An entry for this fingerprint already exists: the request is (or was) in flight."""

    def __init__(self, entry: JournalEntry) -> None:
        self.entry = entry
        where = f" as request {entry.submission.request_id}" if entry.submission else ""
        super().__init__(
            f"request {entry.fingerprint[:16]}... is already {entry.state}{where}; resume it "
            "instead of submitting again (an operator can `forget` a stuck 'submitting' entry)"
        )


class JournalStateError(Exception):
    """A transition the journal's state machine does not allow (a bug, never retried)."""


class SqlRequestJournal(RequestJournal):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def find(self, fingerprint: str) -> JournalEntry | None:
        with self._engine.connect() as conn:
            row = _row(conn, fingerprint)
        return None if row is None else _entry(row)

    def begin(self, fingerprint: str, *, provider: str, model: str) -> None:
        now = _now()
        try:
            with self._engine.begin() as conn:
                # A failed request may be submitted anew: delete and insert in one transaction.
                # Two re-beginners are still exclusive: the loser's insert hits the key.
                conn.execute(delete(request_journal).where(
                    request_journal.c.fingerprint == fingerprint,
                    request_journal.c.state == "failed"))
                conn.execute(request_journal.insert().values(
                    fingerprint=fingerprint, state="submitting", provider=provider, model=model,
                    detail="", created_at=now, updated_at=now))
        except IntegrityError:
            existing = self.find(fingerprint)
            if existing is None:  # the winner vanished (forgotten) since: still not ours
                existing = JournalEntry(fingerprint, "submitting", None, "")
            raise JournalConflict(existing) from None

    def submitted(self, fingerprint: str, submission: Submission) -> None:
        values = dict(
            provider=submission.provider, model=submission.model,
            request_id=submission.request_id, poll_url=submission.poll_url,
            result_url=submission.result_url, cancel_url=submission.cancel_url,
            reported_cost_usd=submission.reported_cost_usd,
        )
        with self._engine.begin() as conn:
            row = _require(conn, fingerprint)
            if row.state == "submitted" and _entry(row).submission == submission:
                return  # a retried call after a lost commit acknowledgement
            if row.state != "submitting":
                raise JournalStateError(
                    f"request {fingerprint[:16]}... is {row.state}"
                    + (f" as {row.request_id}" if row.request_id else "")
                    + f"; cannot record submission {submission.request_id}"
                )
            _set(conn, fingerprint, state="submitted", **values)

    def completed(self, fingerprint: str) -> None:
        with self._engine.begin() as conn:
            row = _require(conn, fingerprint)
            if row.state == "completed":
                return
            if row.state == "failed":
                raise JournalStateError(f"request {fingerprint[:16]}... already failed "
                                        f"({row.detail}); cannot complete it")
            # "submitting" is allowed too: a synchronous API returns the result with the reply.
            _set(conn, fingerprint, state="completed")

    def failed(self, fingerprint: str, detail: str) -> None:
        with self._engine.begin() as conn:
            row = _require(conn, fingerprint)
            if row.state == "completed":
                raise JournalStateError(f"request {fingerprint[:16]}... already completed; "
                                        f"cannot mark it failed ({detail})")
            _set(conn, fingerprint, state="failed", detail=detail)

    def forget(self, fingerprint: str) -> bool:
        """Delete the entry (an operator clearing a stuck 'submitting' entry). Forgetting a
        'submitted' entry means the next run pays again. True if there was an entry."""
        with self._engine.begin() as conn:
            row = _row(conn, fingerprint, lock=True)
            if row is None:
                return False
            conn.execute(delete(request_journal)
                         .where(request_journal.c.fingerprint == fingerprint))
        log.warning("journal: forgot %s request %s (%s %s)", row.state, fingerprint,
                    row.provider, row.model)
        return True

    def entries(self, state: str | None = None) -> list[JournalEntry]:
        """Every entry (or those in `state`), oldest first."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown journal state {state!r}; one of {', '.join(STATES)}")
        query = select(request_journal).order_by(request_journal.c.created_at,
                                                 request_journal.c.fingerprint)
        if state is not None:
            query = query.where(request_journal.c.state == state)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_entry(row) for row in rows]


def _row(conn: Connection, fingerprint: str, *, lock: bool = False) -> Any:
    query = select(request_journal).where(request_journal.c.fingerprint == fingerprint)
    if lock:  # PostgreSQL: hold the row while deciding the transition (SQLite holds the db)
        query = query.with_for_update()
    return conn.execute(query).one_or_none()


def _require(conn: Connection, fingerprint: str) -> Any:
    row = _row(conn, fingerprint, lock=True)
    if row is None:
        raise JournalStateError(f"no journal entry for request {fingerprint[:16]}...; "
                                "call begin() before submitting")
    return row


def _set(conn: Connection, fingerprint: str, **values: Any) -> None:
    conn.execute(update(request_journal).where(request_journal.c.fingerprint == fingerprint)
                 .values(updated_at=_now(), **values))


def _entry(row: Any) -> JournalEntry:
    submission = None
    if row.request_id is not None:
        submission = Submission(
            provider=row.provider, model=row.model, request_id=row.request_id,
            poll_url=row.poll_url, result_url=row.result_url, cancel_url=row.cancel_url,
            reported_cost_usd=row.reported_cost_usd,
        )
    return JournalEntry(fingerprint=row.fingerprint, state=row.state, submission=submission,
                        detail=row.detail or "")


def _now() -> datetime:
    return datetime.now(UTC)
