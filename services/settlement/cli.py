"""Operator commands: load a new catalogue or benefit-policy version, list the versions,
load designated institutions into the registry.

A version is immutable and takes effect on its date; running services pick it up within
a second (NOTIFY) or at their periodic version check. Settlements already made keep the
versions they name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import asyncpg
import typer

from services.settlement.domain.seed import (
    MAX_SEED_FILE_BYTES,
    load_catalogues,
    parse_catalogue_csv,
    parse_policy_json,
)
from services.settlement.institution_file import InstitutionRow, parse_institutions
from services.settlement.registry import seed_in, store_rows
from services.settlement.versions import store_catalogue, store_policy
from shared.bus.pg import Conn
from shared.clock import china_today
from shared.config import ServiceName, get_settings
from shared.db import migrate_service
from shared.errors import DomainError, InvalidArgument

app = typer.Typer(no_args_is_help=True, add_completion=False)

_LOADED_BY = "cli"
T = TypeVar("T")


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_SEED_FILE_BYTES:
        raise typer.BadParameter(f"{path} is larger than {MAX_SEED_FILE_BYTES} bytes")
    return path.read_text(encoding="utf-8")


def _fail(error: DomainError) -> typer.Exit:
    if isinstance(error, InvalidArgument):
        for violation in error.violations[:50]:
            typer.echo(f"  {violation.field}: {violation.description}", err=True)
    typer.echo(f"refused: {error.message}", err=True)
    return typer.Exit(2)


def _check_effective(effective: date, backdate: bool) -> None:
    today = china_today()
    if effective < today and not backdate:
        # A past date re-prices encounters not settled yet; say so explicitly.
        raise typer.BadParameter(
            f"effective date {effective} is in the past; pass --backdate to allow it"
        )


async def _in_settlement_db(work: Callable[[Conn], Awaitable[T]]) -> T:
    """``work`` in one transaction on the settlement schema, migrated first."""
    settings = get_settings()
    await migrate_service(settings.database_url, ServiceName.SETTLEMENT.value)
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        await conn.execute(f'SET search_path TO "{ServiceName.SETTLEMENT.value}", public')
        async with conn.transaction():
            return await work(conn)
    finally:
        await conn.close()


def _load_version(store: Callable[[Conn], Awaitable[bool]], version: str) -> None:
    """Store a version and say what became of it."""
    stored = asyncio.run(_in_settlement_db(store))
    typer.echo(f"{version}: {'loaded' if stored else 'already loaded (same content)'}")


@app.command("load-catalogue")
def load_catalogue(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="catalogue CSV")],
    province: Annotated[str, typer.Option(help="2-digit province code, e.g. 45")],
    version: Annotated[str, typer.Option(help="new version id, e.g. GX-CAT-2026.07")],
    effective: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")],
    class_b_bp: Annotated[
        int | None,
        typer.Option(help="class-B advance self-pay share, basis points (default: as seeded)"),
    ] = None,
    backdate: Annotated[bool, typer.Option(help="allow an effective date in the past")] = False,
) -> None:
    """Load a treatment-side catalogue version from a CSV file (columns as the seed's)."""
    _check_effective(effective.date(), backdate)
    if class_b_bp is None:
        seeded = [c for c in load_catalogues() if c.province_code == province]
        if not seeded:
            raise typer.BadParameter("no seeded catalogue for this province: give --class-b-bp")
        class_b_bp = seeded[0].class_b_preselfpay_bp
    header = {
        "province_code": province,
        "version_id": version,
        "effective_date": effective.date().isoformat(),
        "class_b_preselfpay_bp": class_b_bp,
    }
    try:
        catalogue = parse_catalogue_csv(_read(file), header)
        _load_version(
            lambda conn: store_catalogue(conn, catalogue, _LOADED_BY),
            f"catalogue {catalogue.version_id} (province {province}, {len(catalogue.items)}"
            f" items, effective {catalogue.effective_date})",
        )
    except DomainError as error:
        raise _fail(error) from None


@app.command("load-policy")
def load_policy(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="policy JSON")],
    backdate: Annotated[bool, typer.Option(help="allow an effective date in the past")] = False,
) -> None:
    """Load a benefit-policy version from a JSON file (the seed's format; it names its own
    version_id and effective_date)."""
    try:
        policy = parse_policy_json(_read(file))
        _check_effective(policy.effective_date, backdate)
        _load_version(
            lambda conn: store_policy(conn, policy, _LOADED_BY),
            f"policy {policy.version_id} ({policy.policy_id}, {len(policy.pool_codes)} pools,"
            f" effective {policy.effective_date})",
        )
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{file} is not JSON: {error}") from None
    except DomainError as error:
        raise _fail(error) from None


@app.command("load-institutions")
def load_institutions(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="institutions CSV or JSON")
    ],
    effective: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or json (default: the file's suffix)")
    ] = None,
    backdate: Annotated[bool, typer.Option(help="allow an effective date in the past")] = False,
) -> None:
    """Load designated hospitals and pharmacies into the registry, every row effective on
    --effective: all rows in one transaction, or none if any row is bad (each bad row is
    named by line and column). A row already loaded with the same content is skipped."""
    _check_effective(effective.date(), backdate)
    fmt = (file_format or file.suffix.lstrip(".")).lower()
    try:
        rows = parse_institutions(_read(file), fmt, effective.date())
        stored = asyncio.run(_in_settlement_db(lambda conn: _store_institutions(conn, rows)))
    except DomainError as error:
        raise _fail(error) from None
    typer.echo(
        f"institutions: {len(rows)} rows effective {effective.date()}: {stored} loaded,"
        f" {len(rows) - stored} already loaded (same content)"
    )


async def _store_institutions(conn: Conn, rows: list[InstitutionRow]) -> int:
    await seed_in(conn)  # the shipped sample first, as the service's first start would
    return await store_rows(conn, rows, _LOADED_BY)


@app.command("versions")
def versions() -> None:
    """List the stored catalogue and policy versions."""

    async def listed(conn: Conn) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT 'catalogue' AS kind, version_id, province_code AS scope,
                      effective_date, loaded_by, loaded_at
                 FROM settlement.catalogue_versions
               UNION ALL
               SELECT 'policy', version_id, policy_id, effective_date, loaded_by, loaded_at
                 FROM settlement.policy_versions
               ORDER BY 1, 3, 4"""
        )

    for r in asyncio.run(_in_settlement_db(listed)):
        typer.echo(
            f"{r['kind']:<9} {r['scope']:<9} {r['version_id']:<20} effective"
            f" {r['effective_date']}  loaded by {r['loaded_by']} at {r['loaded_at']:%Y-%m-%d %H:%M}"
        )
