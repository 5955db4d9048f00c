"""No code outside shared/clock.py reads the wall clock: not Python (datetime.now,
date.today, time.time) and not SQL (now(), CURRENT_DATE, clock_timestamp(), ...). Times
reach SQL as parameters from the clock, so a simulation or a test that sets the clock
sets every service's notion of "now"."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLOCK = ROOT / "shared" / "clock.py"

PYTHON_READS = re.compile(
    r"\b(?:datetime|dt\.datetime|date|dt\.date)\.(?:now|utcnow|today)\(|\btime\.time\(\)"
)
SQL_READS = re.compile(
    r"(?<![.\w])now\(\)|\bcurrent_date\b|\bcurrent_timestamp\b|\blocaltimestamp\b"
    r"|\bclock_timestamp\(|\btransaction_timestamp\(|\bstatement_timestamp\(",
    re.IGNORECASE,
)
# Column defaults of the first migrations, dropped by later ones (tested on a migrated
# database in tests/integration/foundation/test_migrations.py).
SQL_DEFAULT = re.compile(r"DEFAULT (?:now\(\)|clock_timestamp\(\))", re.IGNORECASE)


def _sources(suffix: str) -> list[Path]:
    found = []
    for top in ("shared", "services"):
        for path in (ROOT / top).rglob(f"*{suffix}"):
            if "pb" in path.relative_to(ROOT).parts[:2] or path == CLOCK:
                continue
            found.append(path)
    assert found, f"no {suffix} sources found under {ROOT}"
    return found


def _offences(
    paths: list[Path], pattern: re.Pattern[str], allowed: re.Pattern[str] | None
) -> list[str]:
    offences = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("--", 1)[0] if path.suffix == ".sql" else line.split("#", 1)[0]
            if allowed is not None:
                code = allowed.sub("", code)
            if pattern.search(code):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return offences


def test_python_reads_time_only_through_the_clock() -> None:
    python = _sources(".py")
    assert _offences(python, PYTHON_READS, None) == []
    assert _offences(python, SQL_READS, None) == []


def test_sql_reads_no_wall_clock() -> None:
    assert _offences(_sources(".sql"), SQL_READS, SQL_DEFAULT) == []


def test_the_pattern_catches_what_it_must() -> None:
    for line in ("x = datetime.now(UTC)", "date.today()", "t = time.time()", "dt.datetime.now()"):
        assert PYTHON_READS.search(line), line
    for line in ("SET updated_at = now()", "WHERE d < CURRENT_DATE", "clock_timestamp()"):
        assert SQL_READS.search(line), line
    for line in ("clock.now()", "self._clock.now()", "time.monotonic()", "china_now()"):
        assert not PYTHON_READS.search(line) and not SQL_READS.search(line), line
