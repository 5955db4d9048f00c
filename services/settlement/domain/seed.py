"""Loads the shipped seed data: catalogues (CSV + manifest) and benefit policies (JSON).

Parsing only — no database. The service layer stores the returned objects (their
``to_dict()`` form) as versions in PostgreSQL; an operator loading a new version uses the
same parsers, whose InvalidArgument names every bad field (``rows[12].price_limit_fen``
is line 12 of the CSV file, header = line 1).
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib import resources
from typing import Any

from shared.errors import InvalidArgument, Violations

from .catalogue import MAX_CATALOGUE_ITEMS, Catalogue
from .policy import BenefitPolicy, policy_from_dict

DATA_PACKAGE = "services.settlement.data"
CATALOGUE_MANIFEST = "catalogues.json"
POLICY_MANIFEST = "policies.json"
MAX_SEED_FILE_BYTES = 5_000_000
CSV_COLUMNS = (
    "code",
    "name_zh",
    "name_en",
    "kind",
    "item_class",
    "unit",
    "reference_price_fen",
    "price_limit_fen",
    "inpatient_only",
    "chronic_diseases",
    "sex",
    "min_age_years",
    "max_age_years",
    "max_quantity_e4_per_bill",
)
_INT_COLUMNS = (
    "reference_price_fen",
    "price_limit_fen",
    "min_age_years",
    "max_age_years",
    "max_quantity_e4_per_bill",
)


@cache
def load_catalogues() -> tuple[Catalogue, ...]:
    """Every shipped catalogue version (Guangxi 45, Guangdong 44)."""
    manifest = json.loads(_read_text(CATALOGUE_MANIFEST))
    return tuple(
        parse_catalogue_csv(_read_text(entry["file"]), entry) for entry in manifest["catalogues"]
    )


@cache
def load_policies() -> tuple[BenefitPolicy, ...]:
    """Every shipped benefit-policy version (GX, GD_GBA, GD_OTHER)."""
    manifest = json.loads(_read_text(POLICY_MANIFEST))
    return tuple(parse_policy_json(_read_text(name)) for name in manifest["policies"])


def parse_policy_json(text: str) -> BenefitPolicy:
    return policy_from_dict(json.loads(text))


def parse_catalogue_csv(text: str, header: dict[str, Any]) -> Catalogue:
    """A catalogue from its CSV text and its header fields (province_code, version_id,
    effective_date, class_b_preselfpay_bp; other keys are ignored)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidArgument("columns", f"missing column(s): {', '.join(missing)}")
    items: list[dict[str, Any]] = []
    for row in reader:
        if len(items) >= MAX_CATALOGUE_ITEMS:
            raise InvalidArgument("rows", f"more than {MAX_CATALOGUE_ITEMS} items")
        items.append(_typed_row(row))
    raw = {key: header.get(key) for key in _CATALOGUE_HEADER_KEYS}
    try:
        return Catalogue.from_dict({**raw, "items": items})
    except InvalidArgument as exc:
        raise _with_csv_lines(exc) from None


_CATALOGUE_HEADER_KEYS = (
    "province_code",
    "version_id",
    "effective_date",
    "class_b_preselfpay_bp",
)


def _typed_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV strings to the JSON-like types of ``CatalogueItem.from_dict``; a value that does
    not convert is passed on unchanged, so validation reports it with its field name."""
    typed: dict[str, Any] = {key: (value or "").strip() for key, value in row.items() if key}
    for column in _INT_COLUMNS:
        typed[column] = _int_or_raw(typed[column])
    flag = typed["inpatient_only"]
    typed["inpatient_only"] = {"0": False, "1": True, "": False}.get(flag, flag)
    typed["chronic_diseases"] = typed["chronic_diseases"].split()
    typed["sex"] = typed["sex"] or None
    return typed


def _int_or_raw(value: str) -> int | str | None:
    if value == "":
        return None
    return int(value) if value.isdigit() else value


def _with_csv_lines(exc: InvalidArgument) -> InvalidArgument:
    """Renames ``items[i]`` (0-based item) to ``rows[line]`` (1-based line of the file)."""
    errors = Violations()
    for violation in exc.violations:
        name = violation.field
        if name.startswith("items["):
            index_text, rest = name[len("items[") :].split("]", 1)
            name = f"rows[{int(index_text) + 2}]{rest}"
        errors.add(name, violation.description)
    return InvalidArgument.of(errors.items)


def _read_text(name: str) -> str:
    data = resources.files(DATA_PACKAGE).joinpath(name).read_bytes()
    assert len(data) <= MAX_SEED_FILE_BYTES, name
    return data.decode("utf-8")
