"""The settlement service layer: each hospital request is all or nothing in the database.

Every write that the gated path below does not take runs in one unit of work
(``shared.unit_of_work``)::

    coverage re-check with the filing service, only when needed (no transaction open)
    BEGIN
      claim the msgid            (its row in the ``messages`` journal: a retry returns the
                                 stored response, a corrected msgid is refused; nothing
                                 else runs)
      lock what the request acts on, check ownership and state
      pure domain work           (engine, supervision, validation)
      one statement writing every row the request changes, journalling the msgid
      the events collected       (settlement and reversal only: the outbox)
      store the response on the msgid's journal row
    COMMIT                       (explicit; anything else rolls back)

so a request either commits everything, including its stored response and its event, or
nothing. Round trips of a Settle on that locked path, steady state (prepared statements
cached):

    1 BEGIN · 2 claim the msgid, then lock the encounter + its lines, create the person's
    year row if new and lock it, read the transaction's clock · 3 write settlement, funds,
    accumulations, encounter, journal with the stored answer, outbox event · 4 COMMIT

Four (five for a person's first settlement of a year, whose new year row is locked by a
statement of its own). The person's year row, where concurrent settlements of one person
queue, is held from 2 to the COMMIT.

Settle, UploadFeeDetails and Discharge try two statements first, neither in a
transaction: a read of what the request acts on with each row's version (``xmin``), then,
after the same pure domain work, one statement that journals the msgid with its answer,
locks the rows only if they are still the versions read, and writes everything
(``settling._settle_unlocked``, ``encounters._upload_unlocked``,
``settling._discharge_unlocked``): two round trips, and the one statement is all or
nothing. A person's first settlement of a year inserts the year row in that statement (a
row created meanwhile violates its key). A msgid already known when the rows are read, a
refusal, a coverage to re-check, a row changed between the two statements, a msgid taken
meanwhile or a deadlock lost writes nothing there, and the request runs the locked path
above as if the first attempt had not.

The read is skipped where this process wrote the encounter last: registration, an upload,
a settlement and a discharge return the row version they left (the upload and discharge
also the person's year row as they read it), and ``store.recent`` keeps the encounter as
it now stands, bounded.
The next Settle, upload or discharge on that encounter decides on it and goes straight to
its gated statement: one round trip. The gate does not trust the entry: a row another
writer changed since aborts the statement, the entry is dropped, and the request reads the
rows and goes on as above.
tests/integration/settlement/test_settlement_round_trips.py pins every count.

The coverage re-check (a gRPC call) happens only when the stored coverage was refused, and
then in a first transaction that rolls back before the call and a second one after it: a
slow filing service never holds a lock.

The use cases live by sub-domain in this package's modules (encounters, settling,
correcting, queries) over :class:`~services.settlement.handlers.core.SettlementCore`; what
each is asked, in ``commands``.
"""

from __future__ import annotations

from services.settlement.handlers.core import (
    ACQUIRE_TIMEOUT_S as ACQUIRE_TIMEOUT_S,
)
from services.settlement.handlers.core import (
    CORRECTABLE as CORRECTABLE,
)
from services.settlement.handlers.core import (
    INFNO_ADMISSION_CANCEL as INFNO_ADMISSION_CANCEL,
)
from services.settlement.handlers.core import (
    INFNO_ADMISSION_CHANGE as INFNO_ADMISSION_CHANGE,
)
from services.settlement.handlers.core import (
    INFNO_ADMIT as INFNO_ADMIT,
)
from services.settlement.handlers.core import (
    INFNO_CORRECTION as INFNO_CORRECTION,
)
from services.settlement.handlers.core import (
    INFNO_DISCHARGE as INFNO_DISCHARGE,
)
from services.settlement.handlers.core import (
    INFNO_DISCHARGE_CANCEL as INFNO_DISCHARGE_CANCEL,
)
from services.settlement.handlers.core import (
    INFNO_REGISTER as INFNO_REGISTER,
)
from services.settlement.handlers.core import (
    INFNO_REGISTER_CANCEL as INFNO_REGISTER_CANCEL,
)
from services.settlement.handlers.core import (
    SCOPE as SCOPE,
)
from services.settlement.handlers.core import (
    SETTLING as SETTLING,
)
from services.settlement.handlers.core import (
    TREATING_DAYS_AFTER_SETTLEMENT as TREATING_DAYS_AFTER_SETTLEMENT,
)
from services.settlement.handlers.core import (
    AdmissionChanged as AdmissionChanged,
)
from services.settlement.handlers.core import (
    Answer as Answer,
)
from services.settlement.handlers.core import (
    Cancelled as Cancelled,
)
from services.settlement.handlers.core import (
    Corrected as Corrected,
)
from services.settlement.handlers.core import (
    Discharged as Discharged,
)
from services.settlement.handlers.core import (
    EncounterCancelled as EncounterCancelled,
)
from services.settlement.handlers.core import (
    FeeLinesPage as FeeLinesPage,
)
from services.settlement.handlers.core import (
    MsgKey as MsgKey,
)
from services.settlement.handlers.core import (
    Opened as Opened,
)
from services.settlement.handlers.core import (
    PersonLookup as PersonLookup,
)
from services.settlement.handlers.core import (
    PersonYear as PersonYear,
)
from services.settlement.handlers.core import (
    PreSettled as PreSettled,
)
from services.settlement.handlers.core import (
    SettlementCore as SettlementCore,
)
from services.settlement.handlers.core import (
    Stored as Stored,
)
from services.settlement.handlers.core import (
    TotalsOutcome as TotalsOutcome,
)
from services.settlement.handlers.core import (
    Uploaded as Uploaded,
)
from services.settlement.handlers.core import (
    new_id as new_id,
)
from services.settlement.handlers.correcting import CorrectionCases
from services.settlement.handlers.encounters import EncounterCases
from services.settlement.handlers.queries import QueryCases


class Settlement(EncounterCases, CorrectionCases, QueryCases):
    """The use cases behind the 20 RPCs. Each takes its command (``handlers.commands``: a
    frozen dataclass of plain values the servicer reads from the request) and the caller
    the servicer read from the request's context; a write also takes the msgid's key and
    the servicer's :data:`Answer` (how a result is stored as the msgid's answer). They
    return their result, or the :class:`Stored` answer of a msgid answered before; only
    the servicers read and write protobuf."""
