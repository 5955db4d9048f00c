"""The filing vocabulary: categories, channels, destinations, filings and reason codes.

A filing (备案) records that a person insured in one pool will be treated elsewhere. Its
validity is an inclusive date range; a long-term filing has no end and lasts until it
is cancelled. A filing is never edited in place: a change produces a new version and,
when the change takes effect part-way, closes the previous version the day before, so a
treatment date is always judged against the version in force on that date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.filing.domain.dates import last_day_covered
from shared.reference import province_of


class FilingCategory(StrEnum):
    # long-term: valid until cancelled, no ratio reduction
    RETIREE_RESETTLED = "RETIREE_RESETTLED"
    LONG_TERM_RESIDENT = "LONG_TERM_RESIDENT"
    STATIONED_WORKER = "STATIONED_WORKER"
    # temporary: a validity window, a reduced basic-fund ratio
    REFERRAL = "REFERRAL"
    EMERGENCY = "EMERGENCY"
    OTHER_TEMPORARY = "OTHER_TEMPORARY"

    @property
    def label_zh(self) -> str:
        return _LABEL_ZH[self]

    @property
    def is_long_term(self) -> bool:
        return self in LONG_TERM_CATEGORIES


LONG_TERM_CATEGORIES = frozenset(
    {
        FilingCategory.RETIREE_RESETTLED,
        FilingCategory.LONG_TERM_RESIDENT,
        FilingCategory.STATIONED_WORKER,
    }
)
_LABEL_ZH = {
    FilingCategory.RETIREE_RESETTLED: "异地安置退休",
    FilingCategory.LONG_TERM_RESIDENT: "异地长期居住",
    FilingCategory.STATIONED_WORKER: "常驻异地工作",
    FilingCategory.REFERRAL: "异地转诊",
    FilingCategory.EMERGENCY: "异地急诊抢救",
    FilingCategory.OTHER_TEMPORARY: "其他临时外出",
}


class Channel(StrEnum):
    APP = "APP"
    MINI_PROGRAM = "MINI_PROGRAM"
    WEB = "WEB"
    COUNTER = "COUNTER"

    @property
    def is_online(self) -> bool:
        return self is not Channel.COUNTER


class FilingStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUPERSEDED = "SUPERSEDED"  # an earlier version, valid up to the day before a change
    CANCELLED = "CANCELLED"


class ChangeReason(StrEnum):
    RESETTLEMENT_PLACE_CHANGED = "RESETTLEMENT_PLACE_CHANGED"  # 安置地变更
    EMPLOYER_CHANGED = "EMPLOYER_CHANGED"  # 工作单位变更
    INSURANCE_ENDED = "INSURANCE_ENDED"  # 参保关系终止或转移
    PERSONAL_REQUEST = "PERSONAL_REQUEST"


class ReasonCode(StrEnum):
    """Stable codes of the rules that refuse a request or a benefit."""

    FILING_REQUIRED = "FILING_REQUIRED"
    FILING_NOT_VALID_ON_DATE = "FILING_NOT_VALID_ON_DATE"
    FILING_CANCELLED = "FILING_CANCELLED"
    FILING_SUPERSEDED = "FILING_SUPERSEDED"
    FILING_EXPIRED = "FILING_EXPIRED"
    LONG_TERM_CHANGE_LOCKED = "LONG_TERM_CHANGE_LOCKED"
    CHRONIC_DISEASE_NOT_CERTIFIED = "CHRONIC_DISEASE_NOT_CERTIFIED"


@dataclass(frozen=True)
class Destination:
    """Where a filing lets the person be treated: one city pool, or a whole province.

    Exactly one of the two codes is set; an empty string counts as unset, as in proto3.
    """

    pool_code: str | None = None
    province_code: str | None = None

    @classmethod
    def of_pool(cls, pool_code: str) -> Destination:
        return cls(pool_code=pool_code)

    @classmethod
    def of_province(cls, province_code: str) -> Destination:
        return cls(province_code=province_code)

    def normalised(self) -> Destination:
        return Destination(self.pool_code or None, self.province_code or None)

    def covers(self, pool_code: str) -> bool:
        """True if treatment in this known pool falls under the destination."""
        if self.pool_code:
            return self.pool_code == pool_code
        return bool(self.province_code) and province_of(pool_code) == self.province_code


@dataclass(frozen=True)
class ReferralDetails:
    """A referral (转诊): who refers, where to, for what."""

    referring_hospital_code: str  # the hospital in the insured pool that refers (转出)
    hospital_code: str  # the receiving hospital in the destination (转入)
    diagnosis_code: str  # ICD-10, e.g. C34.900
    diagnosis_name: str = ""


@dataclass(frozen=True, kw_only=True)
class FilingTerms:
    """What a filing grants, as decided when it was submitted: whose pool, where, which
    kind, through which channel, for which days."""

    insured_pool: str
    destination: Destination
    category: FilingCategory
    channel: Channel
    valid_from: date
    valid_until: date | None  # inclusive; None = long-term, until cancelled
    submitted_on: date


@dataclass(frozen=True, kw_only=True)
class Filing(FilingTerms):
    """One version of a filing as stored: its terms, its id, where it stands."""

    filing_id: str
    status: FilingStatus = FilingStatus.ACTIVE
    cancelled_on: date | None = None  # the filing stops covering from this date
    referral: ReferralDetails | None = None
    version: int = 1
    policy_version: str = ""

    @property
    def is_long_term(self) -> bool:
        return self.category.is_long_term

    @property
    def effective_until(self) -> date | None:
        """Last day covered: the validity end, cut short by a cancellation."""
        return last_day_covered(self.valid_until, self.cancelled_on)

    def is_valid_on(self, day: date) -> bool:
        until = self.effective_until
        return self.valid_from <= day and (until is None or day <= until)

    def would_be_valid_on(self, day: date) -> bool:
        """Valid on ``day`` had it not been cancelled."""
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)
