"""The encounters this process wrote last, as its writes left them, with their row versions.

A hospital's calls on one encounter come one after another from the same system: register,
upload, settle, discharge. Each write returns the row version it left (every row a
statement writes has its transaction as xmin), and the upload and discharge the person's
year row as their statement read it; with the encounter it acted on and the columns its
statement sets, that is the encounter as it now stands (``store.Known``). The next call on
that encounter can go straight to its own gated write, one statement instead of a read and
a write. The entry is never trusted: the write's gate locks the rows only if they are
still the versions the entry names (``GATED``), and aborts whole otherwise, so an entry
that another process, another request or a correction has overtaken costs one aborted
statement and the request reads the rows as before. What each write composes is checked
against the row by tests/integration/settlement/test_settlement_remembered.py.

Only the versions learnt since the process last opened a database connection are kept: a
failover or a restore reaches the process as connections lost and opened again, and the
server on the other side may reuse the transaction ids (``shared.db.connections_opened``).
An entry is taken after its request has its connection, so no request acts on a version
from before the connection it writes over.

Bounded: at most :data:`RECENT_MAX` encounters and :data:`LINES_TOTAL_MAX` fee lines in all
(the least recently used entries go first), an encounter's lines only up to
:data:`LINES_KEPT_MAX` (a longer stay's settlement reads them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from services.settlement.store.encounters import Known
from shared.db import connections_opened

RECENT_MAX: Final = 10_000
LINES_KEPT_MAX: Final = 500
LINES_TOTAL_MAX: Final = 100_000


def _lines(known: Known) -> int:
    return 0 if known.lines is None else len(known.lines)


class RecentEncounters:
    """The encounters this process wrote last, by mdtrt_id, least recently used first."""

    def __init__(
        self,
        max_entries: int = RECENT_MAX,
        max_lines: int = LINES_TOTAL_MAX,
        opened: Callable[[], int] = connections_opened,
    ) -> None:
        assert max_entries > 0 and max_lines >= LINES_KEPT_MAX
        self._max = max_entries
        self._max_lines = max_lines
        self._opened = opened
        self._epoch = opened()
        self._lines = 0
        self._known: OrderedDict[str, Known] = OrderedDict()

    def epoch(self) -> int:
        """The connections opened so far: what a write's :meth:`put` is made ``since``."""
        self._forget_if_reconnected()
        return self._epoch

    def _forget_if_reconnected(self) -> None:
        opened = self._opened()
        if opened != self._epoch:
            self._known.clear()
            self._lines = 0
            self._epoch = opened

    def __len__(self) -> int:
        return len(self._known)

    @property
    def lines(self) -> int:
        """The fee lines held, in all entries."""
        return self._lines

    def get(self, mdtrt_id: str) -> Known | None:
        """The encounter as this process's last write left it; take it only once the
        request holds the connection it will write over."""
        self._forget_if_reconnected()
        known = self._known.get(mdtrt_id)
        if known is not None:
            self._known.move_to_end(mdtrt_id)
        return known

    def put(self, known: Known, since: int) -> None:
        """Remember what a write left (replacing what an earlier write of it left), unless a
        connection was opened after the write's own (``since``: :meth:`epoch` when the
        write had its connection)."""
        self._forget_if_reconnected()
        if since != self._epoch:
            return
        if _lines(known) > LINES_KEPT_MAX:
            known = replace(known, lines=None)
        mdtrt_id = known.encounter.mdtrt_id
        self.drop(mdtrt_id)
        self._known[mdtrt_id] = known
        self._lines += _lines(known)
        while len(self._known) > self._max or self._lines > self._max_lines:
            _, oldest = self._known.popitem(last=False)
            self._lines -= _lines(oldest)

    def drop(self, mdtrt_id: str) -> None:
        """Forget the encounter: a write that does not return it changes it, or its entry
        turned out to be stale."""
        known = self._known.pop(mdtrt_id, None)
        if known is not None:
            self._lines -= _lines(known)
