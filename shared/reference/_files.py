"""Reading the reference files that ship inside this package.

Every file is bounded: a reference table larger than the limit is a packaging mistake,
and failing loudly at load beats a service that slowly eats memory.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from typing import Any

_PACKAGE = "shared.reference"
MAX_ROWS_PER_FILE = 10_000
MAX_FILE_BYTES = 4 * 1024 * 1024


def read_text(name: str) -> str:
    data = resources.files(_PACKAGE).joinpath(name).read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"reference file {name} exceeds {MAX_FILE_BYTES} bytes")
    return data.decode("utf-8")


def read_csv(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; the header must be exactly ``columns``."""
    reader = csv.DictReader(io.StringIO(read_text(name)))
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"reference file {name}: header {reader.fieldnames} != {list(columns)}")
    rows: list[dict[str, str]] = []
    for row in reader:
        if len(rows) >= MAX_ROWS_PER_FILE:
            raise ValueError(f"reference file {name} has more than {MAX_ROWS_PER_FILE} rows")
        rows.append({key: (value or "").strip() for key, value in row.items()})
    return rows


def read_json(name: str) -> Any:
    return json.loads(read_text(name))
