"""Channel figures: how many filings came through each channel, and the online share.

Both plans set a target of at least three online filing channels; these figures show
whether people use them. A store aggregates counts in SQL and calls
``figures_from_counts``; ``channel_figures`` does the same from individual submissions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from services.filing.domain.model import Channel
from shared.errors import InvalidArgument
from shared.money import BP_PER_UNIT, round_half_up

MAX_PERIOD_DAYS = 5 * 366
MAX_COUNT = 10**12  # far above any plausible count; guards against corrupt input


@dataclass(frozen=True)
class ChannelFigures:
    period_start: date
    period_end: date  # inclusive
    filings_by_channel: Mapping[Channel, int]  # every channel, zero when unused
    filings_total: int
    filings_online: int
    online_share_bp: int  # online / total in basis points, half-up; 0 for an empty period
    online_channels_used: int  # online channels with at least one filing


def check_period(period_start: date, period_end: date, *, end_field: str = "period_end") -> None:
    """InvalidArgument on ``end_field`` unless the inclusive period is 1–MAX_PERIOD_DAYS."""
    if period_end < period_start:
        raise InvalidArgument(end_field, "is before the start of the period")
    if (period_end - period_start).days >= MAX_PERIOD_DAYS:
        raise InvalidArgument(end_field, f"a period spans at most {MAX_PERIOD_DAYS} days")


def figures_from_counts(
    period_start: date, period_end: date, counts: Mapping[Channel, int]
) -> ChannelFigures:
    check_period(period_start, period_end)
    if any(not 0 <= n <= MAX_COUNT for n in counts.values()):
        raise ValueError(f"channel counts must be 0–{MAX_COUNT}")
    by_channel = {channel: counts.get(channel, 0) for channel in Channel}
    total = sum(by_channel.values())
    online = sum(n for channel, n in by_channel.items() if channel.is_online)
    return ChannelFigures(
        period_start=period_start,
        period_end=period_end,
        filings_by_channel=MappingProxyType(by_channel),
        filings_total=total,
        filings_online=online,
        online_share_bp=round_half_up(online * BP_PER_UNIT, total) if total else 0,
        online_channels_used=sum(1 for c, n in by_channel.items() if c.is_online and n > 0),
    )


def channel_figures(
    submissions: Iterable[tuple[Channel, date]], period_start: date, period_end: date
) -> ChannelFigures:
    """Figures for the submissions (channel, submission date) that fall in the period."""
    check_period(period_start, period_end)
    counts = Counter(channel for channel, day in submissions if period_start <= day <= period_end)
    return figures_from_counts(period_start, period_end, counts)
