"""Month-end statement generation in bounded memory, inside the generating transaction.

The period's ledger is read once, as statement lines streamed from a cursor: pair by
pair, each pair's lines in canonical order (``store.period_lines``). Each pair is
summarised by the domain's ``StatementBuilder`` as its lines go by, so nothing ever holds
a period, and a pair is held only while it is small:

- a pair of at most ``batch_lines`` lines is kept until its last line, then serialised
  (``canonical_chunks``) and queued; queued statements are written together (one
  INSERT batch, one COPY of their lines) once they hold ``batch_lines`` lines;
- a larger pair gets its row first, and its lines are copied to ``statement_lines``
  every ``batch_lines`` as they arrive; once its summary is known, its lines are read
  back from there in order and serialised in parts that PostgreSQL joins into the
  stored canonical bytes, hashed on the way. The server's length and sha256 of the
  stored bytes must equal what was sent, and the lines read back must summarise to
  what was summarised on the way in.

So the memory of a run is a few batches of lines whatever the period or the pair holds,
and the bytes are the domain's canonical bytes, byte for byte (the same head, lines and
tail as ``Statement.to_canonical_bytes``).
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from services.clearing import store
from services.clearing.domain.limits import MAX_STATEMENTS_PER_RUN, check_count
from services.clearing.domain.lines import StatementLine
from services.clearing.domain.periods import Period
from services.clearing.domain.statements import (
    PoolPair,
    StatementBuilder,
    StatementSummary,
    canonical_chunks,
    canonical_head,
    canonical_line,
    canonical_tail,
    statement_id_of,
)
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition

# Rows per cursor fetch, and bytes per canonical part sent for a large statement.
FETCH_ROWS: Final = 2_000
PART_BYTES: Final = 4 * 1024 * 1024


@dataclass
class Generated:
    """What a generation wrote: each statement's digest, and totals to check."""

    digests: dict[str, str] = field(default_factory=dict)
    line_count: int = 0
    total_net_fen: int = 0
    largest_line_count: int = 0


async def generate_statements(
    conn: Conn, period: Period, *, batch_lines: int, timeout_s: float
) -> Generated:
    """Replace the period's statements with freshly generated ones (caller's transaction,
    period row already locked)."""
    run = _Run(conn, period, batch_lines, timeout_s)
    await store.delete_statements(conn, period, timeout_s)
    adjusted = deque(await store.adjustment_pairs(conn, period))
    current: _Pair | None = None
    async for pair, line in store.period_lines(
        conn, period, fetch_rows=FETCH_ROWS, timeout_s=timeout_s
    ):
        if current is None or pair != current.pair:
            if current is not None:
                if pair < current.pair:
                    raise AssertionError(f"pair {pair} after {current.pair}: not in order")
                await current.finish()
            # Pairs with adjustments only come in their place in the order.
            while adjusted and adjusted[0] < pair:
                await (await run.start(adjusted.popleft(), with_adjustments=True)).finish()
            carried = bool(adjusted) and adjusted[0] == pair
            if carried:
                adjusted.popleft()
            current = await run.start(pair, with_adjustments=carried)
        await current.add(line)
    if current is not None:
        await current.finish()
    while adjusted:
        await (await run.start(adjusted.popleft(), with_adjustments=True)).finish()
    await run.flush()
    return run.generated


def check_against_ledger(
    generated: Generated, *, event_count: int, cleared_fen: int, adjusted_fen: int
) -> None:
    """Every event of the period is on exactly one line, and the statements carry exactly
    the period's cleared amount and the adjustments carried into it."""
    if generated.line_count != event_count:
        raise FailedPrecondition(
            "INCONSISTENT_ENTRIES",
            f"{generated.line_count} statement lines for {event_count} events: "
            "the entries of an event disagree on its pools, settlement id or kind",
        )
    assert generated.total_net_fen == cleared_fen + adjusted_fen, "statements ≠ ledger"


class _Run:
    def __init__(self, conn: Conn, period: Period, batch_lines: int, timeout_s: float) -> None:
        assert batch_lines >= 1
        self.conn = conn
        self.period = period
        self.batch_lines = batch_lines
        self.timeout_s = timeout_s
        self.generated = Generated()
        self._queued: list[tuple[store.GeneratedStatement, list[StatementLine]]] = []
        self._queued_lines = 0

    async def start(self, pair: PoolPair, *, with_adjustments: bool) -> _Pair:
        adjustments = (
            await store.adjustments_of_pair(self.conn, self.period, pair)
            if with_adjustments
            else []
        )
        return _Pair(self, StatementBuilder(self.period, pair, adjustments))

    def record(self, summary: StatementSummary, digest: str) -> None:
        g = self.generated
        assert summary.statement_id not in g.digests
        check_count("statements", len(g.digests) + 1, MAX_STATEMENTS_PER_RUN)
        g.digests[summary.statement_id] = digest
        g.line_count += summary.line_count
        g.total_net_fen += summary.net_fen
        g.largest_line_count = max(g.largest_line_count, summary.line_count)

    async def queue(self, summary: StatementSummary, lines: list[StatementLine]) -> None:
        """A small statement, whole: serialised now, written with the next batch."""
        canonical = b"".join(canonical_chunks(summary, lines))
        digest = hashlib.sha256(canonical).hexdigest()
        self._queued.append((store.GeneratedStatement(summary, canonical, digest), lines))
        self._queued_lines += len(lines) + 1  # a statement counts, even with no line
        self.record(summary, digest)
        if self._queued_lines >= self.batch_lines:
            await self.flush()

    async def flush(self) -> None:
        if not self._queued:
            return
        await store.insert_statements(self.conn, [s for s, _ in self._queued], self.timeout_s)
        await store.copy_statement_lines(
            self.conn,
            (
                (s.summary.statement_id, line_no, line)
                for s, lines in self._queued
                for line_no, line in enumerate(lines, start=1)
            ),
            self.timeout_s,
        )
        self._queued.clear()
        self._queued_lines = 0


class _Pair:
    """One statement being generated: its lines held while few, spilled once many."""

    def __init__(self, run: _Run, builder: StatementBuilder) -> None:
        self.run = run
        self.builder = builder
        self.lines: list[StatementLine] = []
        self.spilled = 0  # lines already copied to statement_lines

    @property
    def pair(self) -> PoolPair:
        return self.builder.pair

    async def add(self, line: StatementLine) -> None:
        self.builder.add(line)
        self.lines.append(line)
        if len(self.lines) >= self.run.batch_lines:
            await self._spill()

    async def _spill(self) -> None:
        run = self.run
        if self.spilled == 0:
            await store.insert_statement_placeholder(run.conn, run.period, self.pair, run.timeout_s)
        statement_id = statement_id_of(run.period, *self.pair)
        first = self.spilled + 1
        await store.copy_statement_lines(
            run.conn,
            ((statement_id, first + i, line) for i, line in enumerate(self.lines)),
            run.timeout_s,
        )
        self.spilled += len(self.lines)
        self.lines.clear()

    async def finish(self) -> None:
        summary = self.builder.summary()
        if self.spilled == 0:
            await self.run.queue(summary, self.lines)
            return
        if self.lines:
            await self._spill()
        digest = await self._write_canonical(summary)
        self.run.record(summary, digest)

    async def _write_canonical(self, summary: StatementSummary) -> str:
        """Read the lines back in order, send the canonical bytes in parts; the digest."""
        run = self.run
        await store.begin_canonical_parts(run.conn)
        sha = hashlib.sha256()
        part = bytearray()
        seq = 0
        size = 0

        async def feed(chunk: bytes, *, last: bool = False) -> None:
            nonlocal seq, size
            sha.update(chunk)
            part.extend(chunk)
            size += len(chunk)
            if len(part) >= PART_BYTES or (last and part):
                seq += 1
                await store.add_canonical_part(run.conn, seq, bytes(part), run.timeout_s)
                part.clear()

        again = StatementBuilder(run.period, summary.pair, summary.adjustments)
        await feed(canonical_head(summary))
        async for line in store.statement_lines_of(
            run.conn, summary.statement_id, fetch_rows=FETCH_ROWS, timeout_s=run.timeout_s
        ):
            again.add(line)
            await feed(canonical_line(line, first=again.line_count == 1))
        await feed(canonical_tail(summary), last=True)
        if again.summary() != summary:
            raise AssertionError(f"lines of {summary.statement_id} changed while generating")
        digest = sha.hexdigest()
        stored_size, stored_digest = await store.complete_statement(
            run.conn, summary, digest, run.timeout_s
        )
        if (stored_size, stored_digest) != (size, digest):
            raise AssertionError(f"canonical bytes of {summary.statement_id} stored wrongly")
        return digest
