"""The clearing service's pure core: no I/O, no clock, no asyncio.

Modules, in the order a month flows through them:
- periods: Period (YYYYMM) and the cut-off fence (assign_period)
- events, ledger: settlement events and the ledger entries they record
- statements, lines: per pool-pair statements, canonical bytes and digest
- disputes: splitting disputed lines off, resolving them into adjustments
- netting: net positions per level, allocation, hub-and-spoke payment instructions
- lifecycle: state machines for period, statement and payment instruction
- advance: advance-fund sizing and usage alerts
- applications: matching a hospital's monthly clearing application (3203)
- exports: CSV (one table per file, UTF-8 with BOM, yuan beside fen) and HTML renderings
- canonical: a statement read back from its canonical bytes (checked to round-trip)
"""

from services.clearing.domain.advance import crossed_thresholds, size_advance
from services.clearing.domain.applications import (
    ApplicationDifference,
    ApplicationItem,
    ClearingApplication,
    DifferenceKind,
    match_application,
)
from services.clearing.domain.canonical import CorruptStatement, statement_from_bytes
from services.clearing.domain.disputes import dispute_whole, resolve_disputed_line, split_disputed
from services.clearing.domain.events import (
    EventKind,
    FundType,
    Insutype,
    NationalFundCode,
    SettlementEvent,
)
from services.clearing.domain.exports import (
    FUND_NAME_ZH,
    CsvFile,
    csv_field_name,
    csv_file_name,
    render_csv_files,
    render_html,
    yuan_text,
)
from services.clearing.domain.ledger import LedgerEntry, ledger_entries
from services.clearing.domain.lifecycle import (
    InstructionState,
    Party,
    PeriodAction,
    PeriodState,
    StatementAction,
    StatementState,
    StatementStatus,
    Transition,
    accepts_disputed_lines,
    accepts_events,
    regenerates,
    transition_instruction,
    transition_period,
    transition_statement,
)
from services.clearing.domain.lines import (
    Adjustment,
    DisputedLine,
    DisputeOutcome,
    FundAmount,
    StatementLine,
)
from services.clearing.domain.netting import (
    InstructionLeg,
    LevelNetting,
    NetMatrix,
    NetPosition,
    NettingResult,
    PaymentInstruction,
    ProvinceAllocation,
    net_period,
)
from services.clearing.domain.periods import Period, PeriodAssignment, assign_period
from services.clearing.domain.pools import (
    NATIONAL_HUB,
    ClearingLevel,
    clearing_level,
    province_of,
    provincial_hub,
)
from services.clearing.domain.statements import (
    FundSummary,
    Statement,
    build_statements,
    statements_digest,
)

__all__ = [
    "FUND_NAME_ZH",
    "NATIONAL_HUB",
    "Adjustment",
    "ApplicationDifference",
    "ApplicationItem",
    "ClearingApplication",
    "ClearingLevel",
    "CorruptStatement",
    "CsvFile",
    "DifferenceKind",
    "DisputeOutcome",
    "DisputedLine",
    "EventKind",
    "FundAmount",
    "FundSummary",
    "FundType",
    "InstructionLeg",
    "InstructionState",
    "Insutype",
    "LedgerEntry",
    "LevelNetting",
    "NationalFundCode",
    "NetMatrix",
    "NetPosition",
    "NettingResult",
    "Party",
    "PaymentInstruction",
    "Period",
    "PeriodAction",
    "PeriodAssignment",
    "PeriodState",
    "ProvinceAllocation",
    "SettlementEvent",
    "Statement",
    "StatementAction",
    "StatementLine",
    "StatementState",
    "StatementStatus",
    "Transition",
    "accepts_disputed_lines",
    "accepts_events",
    "assign_period",
    "build_statements",
    "clearing_level",
    "crossed_thresholds",
    "csv_field_name",
    "csv_file_name",
    "dispute_whole",
    "ledger_entries",
    "match_application",
    "net_period",
    "province_of",
    "provincial_hub",
    "regenerates",
    "render_csv_files",
    "render_html",
    "resolve_disputed_line",
    "size_advance",
    "split_disputed",
    "statement_from_bytes",
    "statements_digest",
    "transition_instruction",
    "transition_period",
    "transition_statement",
    "yuan_text",
]
