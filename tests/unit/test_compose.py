"""docker-compose.yml and the Dockerfile checked against the code (no Docker engine here)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
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
    gateway = services["gateway"]
    assert gateway["command"] == ["gateway"] and "gateway" in commands
    assert gateway["depends_on"]["filing"]["condition"] == "service_healthy"
    host, port = gateway["environment"]["CROSSCLEAR_GATEWAY_LISTEN"].split(":")
    assert host == "0.0.0.0" and gateway["ports"] == [f"{port}:{port}"]
    # It presents each online channel's certificate, issued by the certs step.
    tls = gateway["environment"]["CROSSCLEAR_TLS_DIR"]
    assert services["certs"]["command"] == [
        "channel-app",
        "channel-mini-program",
        "channel-web",
        "svc-gateway",
    ]
    assert tls == "/certs"
    # It serves HTTPS with its own certificate; institutions' certificates share its CA.
    assert gateway["environment"]["CROSSCLEAR_GATEWAY_HTTPS_DIR"] == "/certs/svc-gateway"
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


def test_the_certs_step_issues_what_the_command_line_names(tmp_path: Path) -> None:
    """Run the compose `certs` entrypoint script outside Docker, as compose would with
    `docker compose run --rm certs H45010000001 450100 op-clearing`."""
    spec = compose()["services"]["certs"]
    script_mount = next(v for v in spec["volumes"] if v.endswith(":ro") and "certs.sh" in v)
    host_path, container_path, _mode = script_mount.split(":")
    assert spec["entrypoint"] == ["sh", container_path]
    script = ROOT / host_path.removeprefix("./")
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "CROSSCLEAR_CERTS_OUT": str(tmp_path),
        "CROSSCLEAR_CERTS_OWNER": str(os.getuid()),
    }
    for args in (["H45010000001", "450100", "op-clearing"], ["certs", "P44010000001"]):
        run = subprocess.run(
            ["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
    for code in ("H45010000001", "450100", "op-clearing", "P44010000001", "svc-settlement"):
        cert = x509.load_pem_x509_certificate((tmp_path / code / "tls.crt").read_bytes())
        (common_name,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert common_name.value == code
    refused = subprocess.run(
        ["sh", str(script), "not a caller"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
