"""Advance funds: read, set (as an amount or sized from history), topped up."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.clearing import access, store
from services.clearing.domain.advance import MAX_MONTHLY_FUND_FEN, size_advance
from services.clearing.domain.limits import MAX_REASON_CHARS, MAX_TRAILING_MONTHS
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import check_pool_code
from services.clearing.handlers.base import ClearingBase, check_id, check_text
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import AlreadyExists, FailedPrecondition, InvalidArgument

log = structlog.get_logger(__name__)


# Top-ups and advances set by hand: far above any pair's needs, below a unit error.
MAX_ADVANCE_FEN = 6 * MAX_MONTHLY_FUND_FEN


@dataclass(frozen=True)
class AdvanceResult:
    advance: store.AdvanceView
    no_op: bool = False
    trailing_monthly_fen: tuple[int, ...] = ()


@dataclass(frozen=True)
class SizeFromHistory:
    as_of: Period
    trailing_months: int | None
    months_cover: int | None


class AdvanceCases(ClearingBase):
    """Advance funds between pairs of pools."""

    async def advance_funds(
        self,
        caller: Caller,
        period: Period,
        *,
        insured_pool: str | None,
        treatment_pool: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[store.AdvanceView]:
        return await self._read_as(
            caller,
            lambda conn, viewer: store.advance_views(
                conn,
                period,
                insured_pool=insured_pool,
                treatment_pool=treatment_pool,
                viewer=viewer,
                after=after,
                limit=limit,
            ),
        )

    @staticmethod
    def _check_pair(insured_pool: str, treatment_pool: str) -> None:
        check_pool_code(insured_pool, "insured_pool")
        check_pool_code(treatment_pool, "treatment_pool")
        if insured_pool == treatment_pool:
            raise InvalidArgument("treatment_pool", "a pool has no advance fund with itself")

    async def set_advance(
        self,
        caller: Caller,
        insured_pool: str,
        treatment_pool: str,
        *,
        amount_fen: int | None,
        from_history: SizeFromHistory | None,
        note: str,
    ) -> AdvanceResult:
        access.require_trusted(caller, "set advance funds")
        self._check_pair(insured_pool, treatment_pool)
        check_text(note, "note", required=False, max_chars=MAX_REASON_CHARS)
        if (amount_fen is None) == (from_history is None):
            raise InvalidArgument("sizing", "give either amount_fen or from_history")
        if amount_fen is not None and not 0 <= amount_fen <= MAX_ADVANCE_FEN:
            raise InvalidArgument("amount_fen", f"0..{MAX_ADVANCE_FEN} fen")
        async with self._write() as tx:
            before = await store.lock_advance(tx.conn, insured_pool, treatment_pool)
            trailing: tuple[int, ...] = ()
            if from_history is not None:
                trailing = await self._trailing(tx.conn, insured_pool, treatment_pool, from_history)
                cover = from_history.months_cover or self._settings.advance_months_cover
                advance_fen = size_advance(trailing, cover)
            else:
                assert amount_fen is not None
                advance_fen = amount_fen
            await store.write_advance(
                tx.conn,
                insured_pool,
                treatment_pool,
                advance_fen=advance_fen,
                change_fen=advance_fen - (before or 0),
                kind="SIZED" if from_history else "SET",
                caller=caller.code,
                note=note,
            )
            view = await self._advance_view(tx.conn, insured_pool, treatment_pool)
            await tx.commit()
        log.info(
            "advance fund set", insured=insured_pool, treatment=treatment_pool, fen=advance_fen
        )
        return AdvanceResult(view, trailing_monthly_fen=trailing)

    async def _trailing(
        self, conn: Conn, insured_pool: str, treatment_pool: str, sizing: SizeFromHistory
    ) -> tuple[int, ...]:
        months = sizing.trailing_months or self._settings.advance_trailing_months
        if not 1 <= months <= MAX_TRAILING_MONTHS:
            raise InvalidArgument("trailing_months", f"1..{MAX_TRAILING_MONTHS}")
        periods: list[Period] = []
        month = sizing.as_of
        for _ in range(months):
            month = month.previous()
            periods.append(month)
        periods.reverse()  # the months before as_of, oldest first
        monthly = await store.monthly_cleared_fen(conn, insured_pool, treatment_pool, periods)
        if not any(m > 0 for m in monthly):
            raise FailedPrecondition(
                "NO_HISTORY",
                f"no cleared payments {insured_pool}→{treatment_pool} in the {months} months "
                f"before {sizing.as_of}: set the advance as an amount",
            )
        # A month where reversals outweigh settlements paid nothing out: it counts as 0.
        return tuple(max(m, 0) for m in monthly)

    async def _advance_view(
        self, conn: Conn, insured_pool: str, treatment_pool: str
    ) -> store.AdvanceView:
        views = await store.advance_views(
            conn,
            Period.from_datetime(self._now()),
            insured_pool=insured_pool,
            treatment_pool=treatment_pool,
            viewer=access.EVERYTHING,
            after=None,
            limit=1,
        )
        assert len(views) == 1
        return views[0]

    async def top_up(
        self,
        caller: Caller,
        insured_pool: str,
        treatment_pool: str,
        *,
        top_up_id: str,
        amount_fen: int,
        note: str,
    ) -> AdvanceResult:
        access.require_trusted(caller, "top up advance funds")
        self._check_pair(insured_pool, treatment_pool)
        check_id(top_up_id, "top_up_id")
        check_text(note, "note", required=False, max_chars=MAX_REASON_CHARS)
        if not 0 < amount_fen <= MAX_ADVANCE_FEN:
            raise InvalidArgument("amount_fen", f"1..{MAX_ADVANCE_FEN} fen")
        async with self._write() as tx:
            before = await store.lock_advance(tx.conn, insured_pool, treatment_pool)
            seen = await store.top_up_seen(tx.conn, top_up_id)
            if seen is not None:
                if seen != (insured_pool, treatment_pool, amount_fen):
                    raise AlreadyExists(f"top-up {top_up_id} was recorded with other figures")
                view = await self._advance_view(tx.conn, insured_pool, treatment_pool)
                await tx.commit()
                return AdvanceResult(view, no_op=True)
            advance_fen = (before or 0) + amount_fen
            if advance_fen > MAX_ADVANCE_FEN:
                raise FailedPrecondition("ADVANCE_TOO_LARGE", f"above {MAX_ADVANCE_FEN} fen")
            await store.write_advance(
                tx.conn,
                insured_pool,
                treatment_pool,
                advance_fen=advance_fen,
                change_fen=amount_fen,
                kind="TOP_UP",
                caller=caller.code,
                note=note,
                top_up_id=top_up_id,
            )
            view = await self._advance_view(tx.conn, insured_pool, treatment_pool)
            await tx.commit()
        return AdvanceResult(view)
