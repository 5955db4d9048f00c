from pathlib import Path

from shared import codegen


def test_generated_code_is_present_and_fresh(tmp_path: Path) -> None:
    """Generated code must match the protos: a stale or missing shared/pb fails here."""
    assert codegen.OUTPUT_ROOT.exists(), "shared/pb is missing: run scripts/setup.sh"
    fresh = tmp_path / "pb"
    codegen.generate(out_dir=fresh)
    current = codegen.snapshot(codegen.OUTPUT_ROOT)
    expected = codegen.snapshot(fresh)
    assert sorted(current) == sorted(expected), "generated files differ from the protos"
    stale = [name for name in expected if current[name] != expected[name]]
    assert not stale, f"stale generated code: {stale}"


def test_every_proto_has_a_versioned_package() -> None:
    for proto in codegen.proto_files():
        text = proto.read_text()
        rel = proto.relative_to(codegen.PROTO_ROOT).parent.as_posix().replace("/", ".")
        assert f"package {rel};" in text, f"{proto}: package must match its folder ({rel})"
