"""Generate Python code from protos/ into shared/pb (messages, gRPC stubs, type stubs).

The generated tree is committed, so a checkout imports it without a code-generation step
(set-up only generates it when it is missing). `python -m shared.codegen` (or
`make codegen`) regenerates it after a change to protos/ or to the locked grpcio-tools /
mypy-protobuf versions; tests/unit/shared/test_codegen.py regenerates into a temporary
folder and compares byte for byte, so stale committed code fails the suite. Generation is
deterministic: same protos and same locked tools give the same bytes.

protoc writes absolute imports rooted at the proto package (``from crossclear.common.v1
import common_pb2``); they are rewritten to live under ``shared.pb`` so the generated
tree is an ordinary subpackage rather than a second top-level package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
OUTPUT_ROOT = REPO_ROOT / "shared" / "pb"
PACKAGE_PREFIX = "shared.pb"
_IMPORT_RE = re.compile(r"^(\s*)(from|import) crossclear\.", re.MULTILINE)
# Type stubs also name types by their full module path (crossclear.common.v1.common_pb2.X).
_STUB_REFERENCE_RE = re.compile(r"(?<![\w.])crossclear\.")


# Copies of the googleapis protos ours import (google/api/annotations.proto and
# http.proto, for the HTTP bindings), kept under protos/ so buf finds them offline. Their
# Python modules come from googleapis-common-protos, so they are not generated here.
VENDORED = ("google",)


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Our own protos (the vendored googleapis copies excepted)."""
    return sorted(
        p for p in proto_root.rglob("*.proto") if p.relative_to(proto_root).parts[0] not in VENDORED
    )


def googleapis_root() -> Path:
    """Where googleapis-common-protos installed its .proto files (google/api/…)."""
    import google.api

    return Path(next(iter(google.api.__path__))).parent.parent


def _run_protoc(out_dir: Path, proto_root: Path) -> None:
    # grpc_tools is a development dependency: only generation needs it.
    well_known = resources.files("grpc_tools") / "_proto"
    bin_dir = Path(sys.executable).parent
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{googleapis_root()}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(proto_root)) for p in proto_files(proto_root)),
    ]
    # A subprocess, so the plugins' chatter on stderr is captured, shown only on failure.
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"protoc failed ({done.returncode}):\n{done.stderr}")


def _rewrite_imports(out_dir: Path) -> None:
    for path in sorted(out_dir.rglob("*.py*")):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".pyi":
            new = _STUB_REFERENCE_RE.sub(f"{PACKAGE_PREFIX}.crossclear.", text)
        else:
            new = _IMPORT_RE.sub(rf"\1\2 {PACKAGE_PREFIX}.crossclear.", text)
        if new != text:
            path.write_bytes(new.encode("utf-8"))  # "\n" endings whatever the platform


_ROOT_INIT = (
    '"""Generated from protos/ by `python -m shared.codegen` (`make codegen`); do not edit.\n\n'
    "Committed, and checked against a fresh generation by tests/unit/shared/test_codegen.py.\n"
    '"""\n'
)


def _add_init_files(out_dir: Path) -> None:
    (out_dir / "__init__.py").write_bytes(_ROOT_INIT.encode("utf-8"))
    for folder in sorted(p for p in out_dir.rglob("*") if p.is_dir()):
        (folder / "__init__.py").touch()


def generate(out_dir: Path = OUTPUT_ROOT, proto_root: Path = PROTO_ROOT) -> bool:
    """Regenerate into out_dir; return whether anything changed.

    Up-to-date code is left untouched, so running set-up while another process imports
    the generated modules never pulls them from under it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "pb"
        staging.mkdir()
        _run_protoc(staging, proto_root)
        _rewrite_imports(staging)
        _add_init_files(staging)
        if out_dir.exists() and snapshot(out_dir) == snapshot(staging):
            return False
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(staging, out_dir)
        return True


def snapshot(folder: Path) -> dict[str, bytes]:
    """Relative path → bytes of every generated file, for a byte-for-byte comparison."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


if __name__ == "__main__":
    changed = generate()
    state = "generated" if changed else "up to date:"
    print(f"{state} {len(proto_files())} protos in {OUTPUT_ROOT.relative_to(REPO_ROOT)}")
