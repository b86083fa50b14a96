"""The budget ledger: reserve a call's estimate before paying, settle with the real cost after.

A campaign's committed money is its settled spend plus its open reservations. `reserve` checks
and records in one transaction under a per-campaign lock (PostgreSQL: `SELECT ... FOR UPDATE`
on the campaign's row; SQLite: the `BEGIN IMMEDIATE` write lock), so concurrent runs in any
number of threads or processes can never together commit more than the budget.
Amounts are integer micro-dollars inside, so $0.10 + $0.20 fits a $0.30 budget exactly.
"""

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from route_assets.db import campaigns, ledger_entries

log = logging.getLogger(__name__)

MICROS = 1_000_000


class LedgerError(Exception):
    """A ledger call that contradicts what the ledger already holds (a bug, never retried)."""


class BudgetExceeded(Exception):
    def __init__(self, *, campaign: str, budget_micros: int, spent_micros: int,
                 reserved_micros: int, amount_micros: int) -> None:
        self.campaign = campaign
        self.budget_usd = budget_micros / MICROS
        self.spent_usd = spent_micros / MICROS
        self.reserved_usd = reserved_micros / MICROS
        self.committed_usd = (spent_micros + reserved_micros) / MICROS
        self.amount_usd = amount_micros / MICROS
        committed = spent_micros + reserved_micros
        super().__init__(
            f"campaign {campaign!r} would exceed its budget of {_usd(budget_micros)}: "
            f"{_usd(committed)} is already committed ({_usd(spent_micros)} spent + "
            f"{_usd(reserved_micros)} reserved by calls in flight) and this call asks for "
            f"{_usd(amount_micros)} more ({_usd(committed + amount_micros)} in all). "
            "Raise budget_usd in the brief, or lower candidates or motion."
        )


@dataclass(frozen=True)
class Reservation:
    id: int
    campaign: str
    amount_usd: float


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reserve(self, *, campaign: str, budget_usd: float, amount_usd: float, stage: str,
                model: str, provider: str) -> Reservation:
        """Hold `amount_usd` of the campaign's budget for one call, or raise BudgetExceeded."""
        # Round against ourselves: the budget down, the amount up.
        budget = _micros(budget_usd, ROUND_FLOOR, "budget_usd")
        amount = _micros(amount_usd, ROUND_CEILING, "amount_usd")
        with self._engine.begin() as conn:
            _lock_campaign(conn, campaign)
            spent, reserved = _totals(conn, campaign)
            # A free call (a cache hit) may always proceed, even past an overrun budget.
            if amount > 0 and spent + reserved + amount > budget:
                raise BudgetExceeded(campaign=campaign, budget_micros=budget, spent_micros=spent,
                                     reserved_micros=reserved, amount_micros=amount)
            result = conn.execute(
                ledger_entries.insert()
                .values(campaign=campaign, stage=stage, model=model, provider=provider,
                        state="open", estimate_micros=amount, cached=False, reserved_at=_now())
                .returning(ledger_entries.c.id)
            )
            entry_id = int(result.scalar_one())
        return Reservation(id=entry_id, campaign=campaign, amount_usd=amount / MICROS)

    def settle(self, reservation: Reservation, *, actual_usd: float, request_id: str,
               cached: bool = False) -> None:
        """Close the reservation with the real cost. Repeating the same settle is a no-op."""
        actual = _micros(actual_usd, ROUND_CEILING, "actual_usd")
        with self._engine.begin() as conn:
            _lock_campaign(conn, reservation.campaign)
            row = _entry(conn, reservation)
            if row.state == "settled":
                if (row.actual_micros, row.request_id, row.cached) == (actual, request_id, cached):
                    return
                raise LedgerError(
                    f"reservation {reservation.id} of campaign {reservation.campaign!r} is already "
                    f"settled at {_usd(row.actual_micros)} for request {row.request_id!r}; "
                    f"refusing to settle it again at {_usd(actual)} for request {request_id!r}"
                )
            # A released reservation is settled too: if the provider billed after all, the
            # spend must be on record even though the budget no longer held it.
            conn.execute(
                update(ledger_entries)
                .where(ledger_entries.c.id == reservation.id)
                .values(state="settled", actual_micros=actual, request_id=request_id,
                        cached=cached, settled_at=_now())
            )
        if actual > row.estimate_micros:
            log.warning("campaign %r: %s cost %s, above its %s estimate (request %s)",
                        reservation.campaign, row.model, _usd(actual), _usd(row.estimate_micros),
                        request_id)

    def release(self, reservation: Reservation) -> None:
        """Free a reservation whose call failed before anything was billed. Releasing twice is
        a no-op, and a settled reservation stays settled (its money was spent)."""
        with self._engine.begin() as conn:
            _lock_campaign(conn, reservation.campaign)
            row = _entry(conn, reservation)
            if row.state == "settled":
                # Usually an error path after a successful settle: never erase recorded spend,
                # and never raise here, which would hide the error being handled.
                log.warning("campaign %r: reservation %d is settled; release ignored",
                            reservation.campaign, reservation.id)
                return
            conn.execute(
                update(ledger_entries)
                .where(ledger_entries.c.id == reservation.id, ledger_entries.c.state == "open")
                .values(state="released", settled_at=_now())
            )

    def spent(self, campaign: str) -> float:
        """Settled spend only."""
        with self._engine.connect() as conn:
            spent, _ = _totals(conn, campaign)
        return spent / MICROS

    def committed(self, campaign: str) -> float:
        """Settled spend plus open reservations: what `reserve` checks against the budget."""
        with self._engine.connect() as conn:
            spent, reserved = _totals(conn, campaign)
        return (spent + reserved) / MICROS

    def lines(self, campaign: str) -> list[dict[str, Any]]:
        """The campaign's settled entries, oldest first."""
        c = ledger_entries.c
        query = (
            select(c.id, c.stage, c.model, c.provider, c.actual_micros, c.estimate_micros,
                   c.request_id, c.cached, c.settled_at)
            .where(c.campaign == campaign, c.state == "settled")
            .order_by(c.settled_at, c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "reservation_id": row.id,
                "stage": row.stage,
                "model": row.model,
                "provider": row.provider,
                "usd": row.actual_micros / MICROS,
                "estimate_usd": row.estimate_micros / MICROS,
                "request_id": row.request_id,
                "cached": bool(row.cached),
                "settled_at": _aware(row.settled_at),
            }
            for row in rows
        ]


def _lock_campaign(conn: Connection, campaign: str) -> None:
    """Hold the campaign's lock until the transaction ends (one code path for both backends)."""
    if conn.dialect.name == "postgresql":
        insert: Any = postgresql.insert(campaigns)
    else:
        insert = sqlite.insert(campaigns)
    # The row must exist before it can be locked; DO NOTHING makes creating it race-free.
    conn.execute(insert.values(campaign=campaign, created_at=_now()).on_conflict_do_nothing())
    # FOR UPDATE blocks until other holders commit. SQLite renders no FOR UPDATE: its
    # BEGIN IMMEDIATE already holds the database's write lock (and the upsert, a write, would
    # take it before the sums even under a deferred BEGIN). In PostgreSQL's READ COMMITTED,
    # the sums that follow take a fresh snapshot, so they see what the previous holder wrote.
    conn.execute(select(campaigns.c.campaign).where(campaigns.c.campaign == campaign)
                 .with_for_update())


def _totals(conn: Connection, campaign: str) -> tuple[int, int]:
    """(settled micro-dollars, open reserved micro-dollars) for the campaign."""
    c = ledger_entries.c
    spent = func.coalesce(func.sum(case((c.state == "settled", c.actual_micros), else_=0)), 0)
    reserved = func.coalesce(func.sum(case((c.state == "open", c.estimate_micros), else_=0)), 0)
    row = conn.execute(select(spent, reserved).where(c.campaign == campaign)).one()
    return int(row[0]), int(row[1])  # PostgreSQL sums bigints as numeric (Decimal)


def _entry(conn: Connection, reservation: Reservation) -> Any:
    row = conn.execute(
        select(ledger_entries).where(ledger_entries.c.id == reservation.id,
                                     ledger_entries.c.campaign == reservation.campaign)
    ).one_or_none()
    if row is None:
        raise LedgerError(f"no reservation {reservation.id} for campaign "
                          f"{reservation.campaign!r} in this ledger")
    return row


def _micros(usd: float, rounding: str, name: str) -> int:
    if isinstance(usd, bool) or not isinstance(usd, int | float | Decimal):
        raise TypeError(f"{name} must be a number of dollars, not {usd!r}")
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"{name} must be a finite amount >= 0, not {usd!r}")
    # str() first: Decimal(0.1) is 0.1000000000000000055..., Decimal("0.1") is what was meant.
    return int((Decimal(str(usd)) * MICROS).quantize(Decimal(1), rounding=rounding))


def _usd(micros: int) -> str:
    text = f"{Decimal(micros) / MICROS:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
