"""The ledger and request-journal database: SQLite on one machine, PostgreSQL when shared.

Both stores guard money, so every transaction must be able to read-then-write without another
process slipping in between. SQLite gets that from `BEGIN IMMEDIATE` (the write lock is taken
up front); PostgreSQL from row locks the callers take (`SELECT ... FOR UPDATE`) and unique
constraints. Only the psycopg2 driver is installed, hence `postgresql+psycopg2://` URLs.
"""

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, make_url

from route_assets import settings

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30
# Any constant works: it only has to be the same in every process creating the schema.
_SCHEMA_LOCK_KEY = 0x52415F4442  # "RA_DB"

metadata = MetaData()

# One row per campaign, only so PostgreSQL has something to `SELECT ... FOR UPDATE`: that lock
# serializes every reservation of the campaign, including its very first one.
campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign", String(200), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Money is stored in integer micro-dollars so sums never drift the way float sums do.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(200), nullable=False),
    Column("stage", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("provider", String(100), nullable=False),
    Column("state", String(16), nullable=False),  # "open" | "settled" | "released"
    Column("estimate_micros", BigInteger, nullable=False),
    Column("actual_micros", BigInteger, nullable=True),
    Column("request_id", String(300), nullable=True),
    Column("cached", Boolean, nullable=False, default=False),
    Column("reserved_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Index("ix_ledger_entries_campaign_state", "campaign", "state"),
)

# The primary key on the fingerprint is what makes `begin` race-safe: of two processes
# inserting the same fingerprint, the database lets exactly one commit.
request_journal = Table(
    "request_journal",
    metadata,
    Column("fingerprint", String(128), primary_key=True),
    Column("state", String(16), nullable=False),  # submitting | submitted | completed | failed
    Column("provider", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("request_id", String(300), nullable=True),
    Column("poll_url", Text, nullable=True),
    Column("result_url", Text, nullable=True),
    Column("cancel_url", Text, nullable=True),
    Column("reported_cost_usd", Float, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_request_journal_state", "state"),
)


class DatabaseUrlError(ValueError):
    """A database URL this system cannot use safely."""


def engine_for(url: str | None = None) -> Engine:
    """An engine for `url` (default: ROUTE_ASSETS_DB_URL, else SQLite under the home dir),
    with the tables created. Safe to call from many processes at once."""
    parsed = make_url(url or settings.db_url())
    backend = parsed.get_backend_name()
    shown = parsed.render_as_string(hide_password=True)
    if backend == "sqlite":
        engine = _sqlite_engine(parsed, shown)
    elif parsed.drivername == "postgresql+psycopg2":
        # pre-ping: a server restart between runs must not surface as a failed paid call
        engine = create_engine(parsed, pool_pre_ping=True)
    elif backend in ("postgresql", "postgres"):
        raise DatabaseUrlError(
            f"database URL {shown}: use the scheme postgresql+psycopg2:// (only psycopg2 is "
            "installed; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg v3)"
        )
    else:
        raise DatabaseUrlError(
            f"database URL {shown}: only sqlite:///path and postgresql+psycopg2:// are supported"
        )
    _create_schema(engine)
    log.debug("ledger database ready: %s", shown)
    return engine


def _sqlite_engine(parsed: Any, shown: str) -> Engine:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        # each pooled connection would get its own empty database: locks would guard nothing
        raise DatabaseUrlError(f"database URL {shown}: in-memory SQLite is not supported; "
                               "use a file, e.g. sqlite:////tmp/route_assets.db")
    Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own (deferred) BEGIN; `_on_begin` issues ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL itself needs a lock another process may hold
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives process crashes; only an OS crash may lose the last commit
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock now, so two processes can never both read the
        # ledger and then both write (a deferred BEGIN would let them both read first).
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Concurrent CREATE TABLE of the same name fails in PostgreSQL; DDL is
            # transactional there, so a transaction-scoped advisory lock serializes creators.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        # On SQLite the BEGIN IMMEDIATE above already serializes creators.
        metadata.create_all(conn, checkfirst=True)
