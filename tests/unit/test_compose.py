"""docker-compose.yml and the Dockerfile checked against the code (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from services.cli import app
from shared.config import DEFAULT_GRPC_PORT, ServiceName, Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def cli_commands() -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def test_every_environment_name_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for name, service in compose()["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("CROSSCLEAR_"):
                assert key.removeprefix("CROSSCLEAR_").lower() in fields, (
                    f"{name}: unknown setting {key}"
                )
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        for key in re.findall(r"(CROSSCLEAR_[A-Z_]+)=", line):
            assert key.removeprefix("CROSSCLEAR_").lower() in fields, (
                f"Dockerfile: unknown setting {key}"
            )


def test_services_run_real_commands_on_their_ports() -> None:
    services = compose()["services"]
    commands = cli_commands()
    for svc in ServiceName:
        spec = services[svc.value]
        assert spec["command"] == ["serve", svc.value]
        port = DEFAULT_GRPC_PORT[svc]
        assert spec["environment"]["CROSSCLEAR_GRPC_LISTEN"] == f"0.0.0.0:{port}"
        assert spec["healthcheck"]["test"][1:3] == ["crossclear", "probe"]
        assert spec["healthcheck"]["test"][3].endswith(f":{port}")
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert spec["environment"]["CROSSCLEAR_TLS_DIR"] == f"/certs/svc-{svc.value}"
    for word in ("serve", "probe", "migrate", "topology", "certs"):
        assert word in commands
    migrate = " ".join(services["migrate"]["entrypoint"])
    assert "crossclear migrate" in migrate and "crossclear topology" in migrate
    assert services["postgres"]["image"].startswith("postgres:")
    assert "management" in services["rabbitmq"]["image"]


def test_targets_point_at_compose_service_names() -> None:
    env = compose()["services"]["filing"]["environment"]
    for svc in ServiceName:
        host, port = env[f"CROSSCLEAR_{svc.value.upper()}_TARGET"].split(":")
        assert host == svc.value and int(port) == DEFAULT_GRPC_PORT[svc]
