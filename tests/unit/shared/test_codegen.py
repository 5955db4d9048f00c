from pathlib import Path

from shared import codegen

REGENERATE = "run `make codegen` (python -m shared.codegen) and commit shared/pb"


def test_committed_generated_code_matches_the_protos(tmp_path: Path) -> None:
    """shared/pb is committed: it must be byte-for-byte what the protos and the locked
    grpcio-tools / mypy-protobuf generate now, so a proto change without regeneration
    (or a stray edit of generated code) fails here."""
    assert codegen.OUTPUT_ROOT.is_dir(), f"shared/pb is missing: {REGENERATE}"
    fresh = tmp_path / "pb"
    codegen.generate(out_dir=fresh)
    committed = codegen.snapshot(codegen.OUTPUT_ROOT)
    expected = codegen.snapshot(fresh)
    missing = sorted(expected.keys() - committed.keys())
    extra = sorted(committed.keys() - expected.keys())
    stale = sorted(
        name for name in expected.keys() & committed.keys() if committed[name] != expected[name]
    )
    assert not (missing or extra or stale), (
        f"shared/pb differs from the protos: {REGENERATE}.\n"
        f"  missing: {missing}\n  not generated any more: {extra}\n  stale: {stale}"
    )


def test_generation_is_deterministic(tmp_path: Path) -> None:
    codegen.generate(out_dir=tmp_path / "a")
    codegen.generate(out_dir=tmp_path / "b")
    assert codegen.snapshot(tmp_path / "a") == codegen.snapshot(tmp_path / "b")


def test_every_proto_has_a_versioned_package() -> None:
    for proto in codegen.proto_files():
        text = proto.read_text()
        rel = proto.relative_to(codegen.PROTO_ROOT).parent.as_posix().replace("/", ".")
        assert f"package {rel};" in text, f"{proto}: package must match its folder ({rel})"
