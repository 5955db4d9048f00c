"""The filing rules (备案): pure functions over frozen values, no I/O.

- ``model``: categories, channels, destinations, filings, reason codes
- ``policy``: the versioned filing policy and its seed version
- ``submission``: validating a new filing into its normalised form
- ``changes``: changing and cancelling a filing (the long-term lock)
- ``coverage``: whether a treatment is covered, and on what basis
- ``chronic``: chronic/special disease certification (门诊慢特病资格认定) and its check
- ``channels``: filings per channel and the online share
- ``persons``: an insured person's record and the facts an ID number carries
- ``access``: who may file, maintain and read persons and filings, see figures
- ``dates``: validity windows in whole months, date fields of requests
"""

from services.filing.domain.changes import (
    ChangeOutcome,
    FilingChange,
    check_open,
    lock_ends_on,
    validate_cancel,
    validate_change,
)
from services.filing.domain.channels import (
    ChannelFigures,
    channel_figures,
    check_period,
    figures_from_counts,
)
from services.filing.domain.coverage import (
    COVERED_VISITS,
    Coverage,
    CoverageBasis,
    Visit,
    decide_coverage,
)
from services.filing.domain.dates import add_months, window_end
from services.filing.domain.model import (
    LONG_TERM_CATEGORIES,
    ChangeReason,
    Channel,
    Destination,
    Filing,
    FilingCategory,
    FilingStatus,
    FilingTerms,
    ReasonCode,
    ReferralDetails,
)
from services.filing.domain.policy import (
    DEFAULT_POLICY_BOOK,
    SEED_POLICY,
    FilingPolicy,
    FilingPolicyBook,
    policy_from_mapping,
)
from services.filing.domain.submission import (
    FilingRequest,
    FilingSubmission,
    NormalisedFiling,
    validate_submission,
)
from shared.vocabulary import VisitType

__all__ = [
    "COVERED_VISITS",
    "DEFAULT_POLICY_BOOK",
    "LONG_TERM_CATEGORIES",
    "SEED_POLICY",
    "ChangeOutcome",
    "ChangeReason",
    "Channel",
    "ChannelFigures",
    "Coverage",
    "CoverageBasis",
    "Destination",
    "Filing",
    "FilingCategory",
    "FilingChange",
    "FilingPolicy",
    "FilingPolicyBook",
    "FilingRequest",
    "FilingStatus",
    "FilingSubmission",
    "FilingTerms",
    "NormalisedFiling",
    "ReasonCode",
    "ReferralDetails",
    "Visit",
    "VisitType",
    "add_months",
    "channel_figures",
    "check_open",
    "check_period",
    "decide_coverage",
    "figures_from_counts",
    "lock_ends_on",
    "policy_from_mapping",
    "validate_cancel",
    "validate_change",
    "validate_submission",
    "window_end",
]
