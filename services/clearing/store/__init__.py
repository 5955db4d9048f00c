"""The clearing schema: every SQL statement of the service, nothing else.

One module per part of the schema, along the domain's sub-domains:

- ``periods``: period rows, the fence, month-end actions and a period's counts;
- ``ledger``: entries recorded from settlement events; a period's statement lines;
- ``advance``: advance funds, their changes and their usage;
- ``generating``: writing a period's statements (rows, lines, canonical bytes);
- ``statements``: statements as stored, their lines, status and checks;
- ``disputes``: disputed lines and the adjustments decisions carry;
- ``netting``: net positions and payment instructions;
- ``applications``: hospitals' clearing applications (3203/3204);
- ``rows``: what they share.

This package re-exports them all: callers write ``store.period_view``.

Functions take a connection and run inside the caller's transaction; the caller (the
handlers, the consumer) decides where transactions begin and end. Rows are turned into
domain values or into the plain read models each module defines, never into protobuf.

Locks on a period row (the month-end fence and the run's serialisation):
- FOR KEY SHARE: taken by ledger ingestion on the rows of the periods it reads;
- FOR UPDATE: taken by ClosePeriod; conflicts with FOR KEY SHARE, so closing waits for
  in-flight ingestion and ingestion that starts later sees the period closed;
- FOR NO KEY UPDATE: taken by the later month-end steps, which serialise with each
  other and with ClosePeriod but never with ingestion;
- FOR SHARE: taken when choosing a period to carry an adjustment into; conflicts with
  the generating step, so a decision never lands in a period being generated.
"""

from services.clearing.store.advance import (
    AdvanceView,
    UsageChange,
    add_usage,
    advance_views,
    lock_advance,
    mark_alerted,
    top_up_seen,
    write_advance,
)
from services.clearing.store.applications import (
    ApplicationView,
    active_application,
    application_view,
    cancel_application,
    hospital_ledger_fen,
    insert_application,
    lock_application_month,
)
from services.clearing.store.disputes import (
    AdjustmentView,
    adjusted_fen_into,
    adjustment_of,
    adjustment_pairs,
    adjustment_views,
    adjustments_of_pair,
    carry_target,
    decided_count,
    disputed_lines_of,
    disputed_setl_ids,
    insert_adjustment,
    mark_lines_disputed,
)
from services.clearing.store.generating import (
    GeneratedStatement,
    add_canonical_part,
    begin_canonical_parts,
    complete_statement,
    copy_statement_lines,
    delete_statements,
    insert_statement_placeholder,
    insert_statements,
    set_statements_digest,
    statement_digests,
    statement_lines_of,
)
from services.clearing.store.ledger import (
    insert_ledger,
    monthly_cleared_fen,
    period_lines,
)
from services.clearing.store.netting import (
    InstructionView,
    NetLevelView,
    instruction_period,
    instruction_states,
    instruction_view,
    instruction_views,
    mark_paid,
    net_levels,
    save_netting,
)
from services.clearing.store.periods import (
    FENCE_ROUNDS_MAX,
    LockMode,
    PeriodView,
    ensure_periods,
    lock_landing_periods,
    lock_period,
    period_view,
    record_action,
    set_period_state,
)
from services.clearing.store.rows import (
    PAGE_ROWS_MAX,
    Visibility,
    set_statement_timeout,
)
from services.clearing.store.statements import (
    LineView,
    StatementView,
    all_statement_views,
    canonical_of,
    canonical_size,
    line_views,
    load_statement,
    mark_delivered,
    set_statement_status,
    statement_states,
    statement_view,
    statement_views,
    statements_failing_checks,
)

__all__ = [
    "FENCE_ROUNDS_MAX",
    "PAGE_ROWS_MAX",
    "AdjustmentView",
    "AdvanceView",
    "ApplicationView",
    "GeneratedStatement",
    "InstructionView",
    "LineView",
    "LockMode",
    "NetLevelView",
    "PeriodView",
    "StatementView",
    "UsageChange",
    "Visibility",
    "active_application",
    "add_canonical_part",
    "add_usage",
    "adjusted_fen_into",
    "adjustment_of",
    "adjustment_pairs",
    "adjustment_views",
    "adjustments_of_pair",
    "advance_views",
    "all_statement_views",
    "application_view",
    "begin_canonical_parts",
    "cancel_application",
    "canonical_of",
    "canonical_size",
    "carry_target",
    "complete_statement",
    "copy_statement_lines",
    "decided_count",
    "delete_statements",
    "disputed_lines_of",
    "disputed_setl_ids",
    "ensure_periods",
    "hospital_ledger_fen",
    "insert_adjustment",
    "insert_application",
    "insert_ledger",
    "insert_statement_placeholder",
    "insert_statements",
    "instruction_period",
    "instruction_states",
    "instruction_view",
    "instruction_views",
    "line_views",
    "load_statement",
    "lock_advance",
    "lock_application_month",
    "lock_landing_periods",
    "lock_period",
    "mark_alerted",
    "mark_delivered",
    "mark_lines_disputed",
    "mark_paid",
    "monthly_cleared_fen",
    "net_levels",
    "period_lines",
    "period_view",
    "record_action",
    "save_netting",
    "set_period_state",
    "set_statement_status",
    "set_statement_timeout",
    "set_statements_digest",
    "statement_digests",
    "statement_lines_of",
    "statement_states",
    "statement_view",
    "statement_views",
    "statements_failing_checks",
    "top_up_seen",
    "write_advance",
]
