"""The clearing service's own settings, read from CROSSCLEAR_CLEARING_* variables.

Policy figures here are **modeled** defaults (POLICY.md): advances of two months of the
trailing average monthly cross-region fund payments, alerts at 70 % and 90 % of the
advance used within the open period.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.clearing.domain.advance import DEFAULT_MONTHS_COVER, DEFAULT_THRESHOLDS_BP
from services.clearing.domain.limits import MAX_MONTHS_COVER, MAX_THRESHOLDS, MAX_TRAILING_MONTHS
from shared.money import BP_PER_UNIT


class ClearingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_CLEARING_", extra="ignore")

    # Advance-fund usage alerts, in basis points of the advance, strictly increasing.
    # Environment: a JSON list, e.g. CROSSCLEAR_CLEARING_ADVANCE_THRESHOLDS_BP='[7000,9000]'.
    advance_thresholds_bp: tuple[int, ...] = DEFAULT_THRESHOLDS_BP
    advance_months_cover: int = Field(default=DEFAULT_MONTHS_COVER, ge=1, le=MAX_MONTHS_COVER)
    advance_trailing_months: int = Field(default=3, ge=1, le=MAX_TRAILING_MONTHS)

    # Settlement events per ledger transaction, and how long a partial batch waits.
    consumer_batch_size: int = Field(default=200, ge=1, le=1_000)
    consumer_batch_wait_ms: int = Field(default=50, ge=0, le=5_000)
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    # Statement lines a month-end generation holds at once (per batch of small statements,
    # and per part of a large one): what bounds its memory, whatever the period holds.
    generate_batch_lines: int = Field(default=20_000, ge=1, le=1_000_000)
    # Bounds every database round trip of an RPC; month-end steps get the longer one.
    rpc_db_timeout_s: float = Field(default=10.0, gt=0, le=120)
    run_step_timeout_s: float = Field(default=600.0, gt=0, le=3_600)

    @field_validator("advance_thresholds_bp")
    @classmethod
    def _thresholds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(value) <= MAX_THRESHOLDS:
            raise ValueError(f"1..{MAX_THRESHOLDS} thresholds")
        if not all(0 < t <= BP_PER_UNIT for t in value):
            raise ValueError("each threshold in 1..10000 bp")
        if list(value) != sorted(set(value)):
            raise ValueError("thresholds strictly increasing")
        return value


@lru_cache(maxsize=1)
def get_clearing_settings() -> ClearingSettings:
    return ClearingSettings()
