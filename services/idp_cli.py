"""``crossclear idp``: the development identity provider of the channels.

Development and local runs only: every command refuses unless the settings are in
development mode (CROSSCLEAR_INSECURE_DEV=true, no TLS directory). Real channels have
their own identity providers (CROSSCLEAR_CHANNEL_IDPS).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from shared import clock
from shared.config import CHANNEL_CODES, get_settings
from shared.devidp import DevIdp, idp_dir

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _dev_idp() -> DevIdp:
    settings = get_settings()
    if not settings.insecure_dev or settings.tls_dir is not None:
        typer.echo(
            "crossclear idp is for development only: set CROSSCLEAR_INSECURE_DEV=true "
            "(and no CROSSCLEAR_TLS_DIR)",
            err=True,
        )
        raise typer.Exit(2)
    return DevIdp.ensure(idp_dir(settings.state_dir))


@app.command()
def init() -> None:
    """Create the signing key and JWKS (kept if they exist); print the services' setting."""
    idp = _dev_idp()
    typer.echo(f"signing key and JWKS in {idp.folder}")
    typer.echo(f"CROSSCLEAR_CHANNEL_IDPS='{idp.channel_idps_env()}'")


@app.command()
def token(
    channel: Annotated[str, typer.Option(help=f"one of {', '.join(CHANNEL_CODES)}")],
    person: Annotated[str | None, typer.Option(help="the person's number (psn_no)")] = None,
    staff: Annotated[str | None, typer.Option(help="a counter clerk's staff id")] = None,
    pool: Annotated[str | None, typer.Option(help="the clerk's pool (with --staff)")] = None,
    ttl_s: Annotated[int, typer.Option(min=1, max=86_400)] = 3_600,
) -> None:
    """Print a token of ``channel`` for a person (online channels) or a clerk (counter)."""
    idp = _dev_idp()
    try:
        minted = idp.token(
            channel,
            audience=get_settings().idp_audience,
            now=clock.now(),
            person=person,
            staff=staff,
            pool=pool,
            ttl=timedelta(seconds=ttl_s),
        )
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(minted)
