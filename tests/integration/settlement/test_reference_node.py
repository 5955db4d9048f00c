"""A client in another language: Node.js scripts (@grpc/grpc-js, protos loaded at run time)
page through the catalogue download and read a refusal's request id and Chinese message."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from services.settlement.domain.seed import load_catalogues

ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "tests" / "node"
NODE = shutil.which("node")
HOSPITAL = "H44010000001"
SCRIPT_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js) is not installed")


async def run_node(script: str, *args: str) -> dict[str, Any]:
    assert (ROOT / "node_modules" / "@grpc" / "grpc-js").is_dir(), (
        "node_modules lacks @grpc/grpc-js: run `npm ci` (scripts/setup.sh does)"
    )
    # Asynchronously: the service answering the script runs on this event loop.
    process = await asyncio.create_subprocess_exec(
        str(NODE),
        str(NODE_DIR / script),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT_S)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_node_client_pages_through_the_full_catalogue(settlement_ready: Any) -> None:
    target = f"127.0.0.1:{settlement_ready.port}"
    version = "GD-CAT-2026.01"
    size = len(next(c for c in load_catalogues() if c.version_id == version).items)
    result = await run_node("catalogue_download.js", target, HOSPITAL, version, "50")
    assert result == {
        "ver": version,
        "items": size,
        "total_count": size,
        "pages": -(-size // 50),
    }


async def test_node_client_reads_the_request_id_and_the_chinese_message(
    settlement_ready: Any,
) -> None:
    target = f"127.0.0.1:{settlement_ready.port}"
    result = await run_node("bad_request.js", target, HOSPITAL)
    assert result["code"] == 3  # INVALID_ARGUMENT
    assert re.fullmatch(r"[0-9a-f]{32}", result["request_id"]), result
    assert result["error_info_request_id"] == result["request_id"]
    assert result["locale"] == "zh-CN"
    assert re.search(r"[\u4e00-\u9fff]", result["message_zh"]), result
    assert "page.page_size" in result["message_zh"]
