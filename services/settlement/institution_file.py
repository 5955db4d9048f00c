"""Reading an institutions file an operator loads into the registry: CSV or JSON.

CSV: a header naming the columns ``code,name_zh,pool_code,kind,level`` and optionally
``designated_from,designated_until`` (the shipped ``shared/reference/institutions.csv`` is
such a file). JSON: ``{"institutions": [{...}, ...]}`` or a bare list, with the same keys.
Every row becomes an immutable version effective on the load's effective date; a row
without ``designated_from`` is designated from that date, one without ``designated_until``
until further notice.

Every bad row is reported, naming its line (CSV) or index (JSON) and the column, so an
operator fixes the file in one pass; nothing is stored unless every row is good.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from shared.errors import InvalidArgument, Violations
from shared.reference import INSTITUTION_CODE_RE, InstitutionKind, get_pool, is_pool

MAX_FILE_BYTES: Final = 4 * 1024 * 1024
MAX_ROWS: Final = 20_000
MAX_NAME_CHARS: Final = 200
REQUIRED_COLUMNS: Final = ("code", "name_zh", "pool_code", "kind", "level")
OPTIONAL_COLUMNS: Final = ("designated_from", "designated_until")
_PREFIX = {InstitutionKind.HOSPITAL: "H", InstitutionKind.PHARMACY: "P"}


@dataclass(frozen=True)
class InstitutionRow:
    """One version of one institution, as stored in ``institution_versions``."""

    code: str
    name_zh: str
    pool_code: str
    kind: InstitutionKind
    level: int | None  # 1–3 for a hospital, None for a pharmacy
    effective_date: date
    designated_from: date
    designated_until: date | None

    def designated_on(self, day: date) -> bool:
        return self.designated_from <= day and (
            self.designated_until is None or day <= self.designated_until
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "pool_code": self.pool_code,
            "kind": self.kind.value,
            "level": self.level,
            "effective_date": self.effective_date.isoformat(),
            "designated_from": self.designated_from.isoformat(),
            "designated_until": self.designated_until.isoformat()
            if self.designated_until
            else None,
        }


def parse_institutions(text: str, file_format: str, effective: date) -> list[InstitutionRow]:
    """The rows of a ``csv`` or ``json`` file; InvalidArgument naming every bad row/column."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise InvalidArgument("file", f"larger than {MAX_FILE_BYTES} bytes")
    if file_format == "csv":
        return parse_csv(text, effective)
    if file_format == "json":
        return parse_json(text, effective)
    raise InvalidArgument("format", f"{file_format!r} is neither csv nor json")


def parse_csv(text: str, effective: date) -> list[InstitutionRow]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        raise InvalidArgument(
            "line 1 (header)",
            f"columns must be {', '.join(REQUIRED_COLUMNS)} [, {', '.join(OPTIONAL_COLUMNS)}]"
            f"; missing {missing or 'none'}, unknown {unknown or 'none'}",
        )
    raws: list[tuple[str, Mapping[str, Any]]] = []
    for raw in reader:
        if len(raws) >= MAX_ROWS:
            raise InvalidArgument("file", f"more than {MAX_ROWS} rows")
        if None in raw:  # more cells than columns
            raise InvalidArgument(f"line {reader.line_num}", "more cells than the header names")
        raws.append((f"line {reader.line_num}", raw))
    return _rows(raws, effective, lambda where, column: f"{where}, column {column}")


def parse_json(text: str, effective: date) -> list[InstitutionRow]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument("file", f"not JSON: {exc}") from None
    if isinstance(body, dict):
        body = body.get("institutions")
    if not isinstance(body, list):
        raise InvalidArgument("institutions", "must be a list of institution objects")
    if len(body) > MAX_ROWS:
        raise InvalidArgument("institutions", f"more than {MAX_ROWS} rows")
    raws: list[tuple[str, Mapping[str, Any]]] = []
    errors = Violations()
    for index, raw in enumerate(body):
        where = f"institutions[{index}]"
        if not isinstance(raw, dict):
            errors.add(where, "must be an object")
            continue
        unknown = sorted(set(raw) - set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))
        errors.check(not unknown, where, f"unknown keys {unknown}")
        raws.append((where, {k: "" if v is None else str(v) for k, v in raw.items()}))
    errors.raise_if_any()
    return _rows(raws, effective, lambda where, column: f"{where}.{column}")


def _rows(
    raws: Sequence[tuple[str, Mapping[str, Any]]], effective: date, name: Any
) -> list[InstitutionRow]:
    errors = Violations()
    rows: list[InstitutionRow] = []
    first_seen: dict[str, str] = {}
    if not raws:
        raise InvalidArgument("file", "has no institution rows")
    for where, raw in raws:
        row = _row(raw, effective, errors, lambda column, w=where: name(w, column))
        if row is None:
            continue
        if row.code in first_seen:
            errors.add(name(where, "code"), f"{row.code} repeats {first_seen[row.code]}")
            continue
        first_seen[row.code] = where
        rows.append(row)
    errors.raise_if_any()
    return rows


def _row(
    raw: Mapping[str, Any], effective: date, errors: Violations, at: Any
) -> InstitutionRow | None:
    def cell(column: str) -> str:
        return str(raw.get(column) or "").strip()

    before = len(errors.items)
    code, name_zh, pool_code = cell("code"), cell("name_zh"), cell("pool_code")
    kind: InstitutionKind | None = None
    try:
        kind = InstitutionKind(cell("kind"))
    except ValueError:
        errors.add(at("kind"), f"{cell('kind')!r} is neither HOSPITAL nor PHARMACY")
    if not INSTITUTION_CODE_RE.fullmatch(code):
        errors.add(at("code"), f"{code!r} is not H/P + 6-digit pool + 5 digits")
    elif kind is not None and code[0] != _PREFIX[kind]:
        errors.add(at("code"), f"a {kind.value} code starts with {_PREFIX[kind]}")
    if not is_pool(pool_code):
        errors.add(at("pool_code"), f"{pool_code!r} is not a pool on file")
    elif get_pool(pool_code).region_level:
        errors.add(at("pool_code"), "the region-level pool has no institutions")
    elif INSTITUTION_CODE_RE.fullmatch(code) and code[1:7] != pool_code:
        errors.add(at("pool_code"), f"the code {code} names pool {code[1:7]}")
    if not 1 <= len(name_zh) <= MAX_NAME_CHARS:
        errors.add(at("name_zh"), f"required, at most {MAX_NAME_CHARS} characters")
    level = _level(cell("level"), kind, errors, at)
    designated_from = (
        optional_date(cell("designated_from"), errors, at("designated_from")) or effective
    )
    until = optional_date(cell("designated_until"), errors, at("designated_until"))
    if until is not None and until < designated_from:
        errors.add(at("designated_until"), "before designated_from")
    if len(errors.items) > before or kind is None:
        return None
    return InstitutionRow(code, name_zh, pool_code, kind, level, effective, designated_from, until)


def _level(text: str, kind: InstitutionKind | None, errors: Violations, at: Any) -> int | None:
    if kind is InstitutionKind.PHARMACY:
        if text:
            errors.add(at("level"), "a pharmacy has no level: leave it empty")
        return None
    if text not in ("1", "2", "3"):
        errors.add(at("level"), f"{text!r}: a hospital's level is 1, 2 or 3")
        return None
    return int(text)


def optional_date(text: str, errors: Violations, where: str) -> date | None:
    """A YYYY-MM-DD date, or None when ``text`` is empty or bad (then ``where`` is in
    ``errors``)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.add(where, f"{text!r} is not a date YYYY-MM-DD")
        return None
