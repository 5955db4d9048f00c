"""Clearing's use cases: one method per request, each one database transaction.

Every method takes the authenticated caller and plain or domain values, checks who may
do it (``access``), runs the domain's rules on what the store loads, writes the result,
and returns read models. Nothing here knows protobuf. Month-end steps are idempotent: a
step whose effect is already in place returns ``no_op=True`` and changes nothing; a step
the period's state does not allow is refused with the domain's FAILED_PRECONDITION.

One module per sub-domain, each a set of use cases over the shared base (``base``):
``periods`` (close, generate, deliver), ``statements`` (read, confirm), ``disputes``
(dispute, resolve), ``payments`` (net, positions, instructions, payments), ``advance``
(advance funds), ``applications`` (3203/3204). ``Clearing`` is all of them.
"""

from __future__ import annotations

from services.clearing.handlers.advance import (
    MAX_ADVANCE_FEN,
    AdvanceCases,
    AdvanceResult,
    SizeFromHistory,
)
from services.clearing.handlers.applications import (
    DIFFERENCES_RETURNED_MAX,
    ApplicationCases,
    ApplicationResult,
)
from services.clearing.handlers.base import PeriodStep, StatementStep
from services.clearing.handlers.disputes import Decision, DisputeCases, Resolution
from services.clearing.handlers.payments import NetLevel, PaymentCases, PaymentStep
from services.clearing.handlers.periods import PeriodSteps
from services.clearing.handlers.statements import (
    ADJUSTMENTS_RETURNED_MAX,
    CANONICAL_RETURNED_MAX_BYTES,
    StatementCases,
    StatementDetail,
)

__all__ = [
    "ADJUSTMENTS_RETURNED_MAX",
    "CANONICAL_RETURNED_MAX_BYTES",
    "DIFFERENCES_RETURNED_MAX",
    "MAX_ADVANCE_FEN",
    "AdvanceResult",
    "ApplicationResult",
    "Clearing",
    "Decision",
    "NetLevel",
    "PaymentStep",
    "PeriodStep",
    "Resolution",
    "SizeFromHistory",
    "StatementDetail",
    "StatementStep",
]


class Clearing(
    PeriodSteps, StatementCases, DisputeCases, PaymentCases, AdvanceCases, ApplicationCases
):
    """The clearing service's use cases over one database pool."""
