"""Settlement's SQL (asyncpg). Every function runs in the caller's open transaction.

Each write folds everything one RPC changes into one statement (data-modifying CTEs) and
returns the number of rows each part touched, which the caller asserts: the statement
runs under the row locks taken before it, so anything but the expected counts is a bug.

``messages`` is the one journal of msgids: the request's unit of work claims its row
first (:data:`~services.settlement.store.journal.JOURNAL`, the idempotency key with its
fingerprint and, once done, its stored answer), and every write journals what it did on
that row in its own statement. A msgid undone by a correction has a CORRECTED or
TOMBSTONE row, so the original arriving late is refused at its claim
(:data:`MSGID_CORRECTED`), before anything else runs.

The statements live by sub-domain in this package's modules; this module names them
for the rest of the service (``store.lock_encounter`` …).
"""

from __future__ import annotations

from services.settlement.store.accumulations import (
    PreSettleView as PreSettleView,
)
from services.settlement.store.accumulations import (
    accumulations_now as accumulations_now,
)
from services.settlement.store.accumulations import (
    insert_warnings as insert_warnings,
)
from services.settlement.store.accumulations import (
    lock_accumulations as lock_accumulations,
)
from services.settlement.store.accumulations import (
    read_for_presettle as read_for_presettle,
)
from services.settlement.store.common import (
    MSGID_CORRECTED as MSGID_CORRECTED,
)
from services.settlement.store.common import (
    STAYS_ELSEWHERE_MAX as STAYS_ELSEWHERE_MAX,
)
from services.settlement.store.common import (
    Journal as Journal,
)
from services.settlement.store.common import (
    TxnClock as TxnClock,
)
from services.settlement.store.common import (
    UnexpectedRowCount as UnexpectedRowCount,
)
from services.settlement.store.common import (
    msgid_corrected as msgid_corrected,
)
from services.settlement.store.encounters import (
    EncounterRead as EncounterRead,
)
from services.settlement.store.encounters import (
    Known as Known,
)
from services.settlement.store.encounters import (
    LockedEncounter as LockedEncounter,
)
from services.settlement.store.encounters import (
    cancel_encounter as cancel_encounter,
)
from services.settlement.store.encounters import (
    cancel_registration as cancel_registration,
)
from services.settlement.store.encounters import (
    change_admission as change_admission,
)
from services.settlement.store.encounters import (
    claim_and_lock_encounter as claim_and_lock_encounter,
)
from services.settlement.store.encounters import (
    claim_and_open_encounter as claim_and_open_encounter,
)
from services.settlement.store.encounters import (
    earliest_line_date as earliest_line_date,
)
from services.settlement.store.encounters import (
    lock_encounter as lock_encounter,
)
from services.settlement.store.encounters import (
    read_encounter as read_encounter,
)
from services.settlement.store.encounters import (
    set_discharge as set_discharge,
)
from services.settlement.store.encounters import (
    set_discharge_if_unchanged as set_discharge_if_unchanged,
)
from services.settlement.store.fee_lines import (
    LineTotals as LineTotals,
)
from services.settlement.store.fee_lines import (
    cancel_fee_lines as cancel_fee_lines,
)
from services.settlement.store.fee_lines import (
    insert_fee_lines as insert_fee_lines,
)
from services.settlement.store.fee_lines import (
    insert_fee_lines_if_unchanged as insert_fee_lines_if_unchanged,
)
from services.settlement.store.journal import (
    JOURNAL as JOURNAL,
)
from services.settlement.store.journal import (
    SCOPE as SCOPE,
)
from services.settlement.store.journal import (
    JournalEntry as JournalEntry,
)
from services.settlement.store.journal import (
    answered as answered,
)
from services.settlement.store.journal import (
    journal_only as journal_only,
)
from services.settlement.store.journal import (
    mark_corrected as mark_corrected,
)
from services.settlement.store.journal import (
    tombstone_or_lock as tombstone_or_lock,
)
from services.settlement.store.queries import (
    EncounterRow as EncounterRow,
)
from services.settlement.store.queries import (
    StoredLine as StoredLine,
)
from services.settlement.store.queries import (
    get_encounter as get_encounter,
)
from services.settlement.store.queries import (
    person_encounters as person_encounters,
)
from services.settlement.store.queries import (
    records as records,
)
from services.settlement.store.queries import (
    standing_lines as standing_lines,
)
from services.settlement.store.queries import (
    totals as totals,
)
from services.settlement.store.queries import (
    treating_encounter as treating_encounter,
)
from services.settlement.store.recent import (
    RecentEncounters as RecentEncounters,
)
from services.settlement.store.settlements import (
    LockedSettlement as LockedSettlement,
)
from services.settlement.store.settlements import (
    SettleLocks as SettleLocks,
)
from services.settlement.store.settlements import (
    SettleRead as SettleRead,
)
from services.settlement.store.settlements import (
    get_settlement as get_settlement,
)
from services.settlement.store.settlements import (
    known_for_settle as known_for_settle,
)
from services.settlement.store.settlements import (
    lock_for_settle as lock_for_settle,
)
from services.settlement.store.settlements import (
    read_for_settle as read_for_settle,
)
from services.settlement.store.settlements import (
    write_reversal as write_reversal,
)
from services.settlement.store.settlements import (
    write_settlement as write_settlement,
)
from services.settlement.store.settlements import (
    write_settlement_if_unchanged as write_settlement_if_unchanged,
)
