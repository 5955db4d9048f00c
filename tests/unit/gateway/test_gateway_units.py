"""The gateway's parts without a network: routes from the annotations, text → fields,
the code → HTTP status mapping, the bounded token buckets, and the development identity
provider's command refusing outside development mode."""

from __future__ import annotations

import pytest
from google.rpc import code_pb2, status_pb2
from typer.testing import CliRunner

from services.cli import app
from services.gateway import transcode
from services.gateway.app import all_bindings
from services.gateway.limits import TokenBuckets
from shared.config import get_settings
from shared.errors import InvalidArgument
from shared.pb.crossclear.filing.v1 import filing_pb2


def test_routes_come_from_the_annotations() -> None:
    routes = {b.method.name: (b.verb, b.template, b.body) for b in all_bindings()}
    assert routes == {
        "SubmitFiling": ("POST", "/v1/filings", "*"),
        "ChangeFiling": ("POST", "/v1/filings/{filing_id}:change", "*"),
        "CancelFiling": ("POST", "/v1/filings/{filing_id}:cancel", "*"),
        "GetFiling": ("GET", "/v1/filings/{filing_id}", ""),
        "ListFilings": ("GET", "/v1/persons/{psn_no}/filings", ""),
        "Register": ("POST", "/v1/settlement/encounters", "*"),
        "UploadFeeDetails": (
            "POST",
            "/v1/settlement/encounters/{mdtrt_id}:upload-fee-details",
            "*",
        ),
        "Settle": ("POST", "/v1/settlement/encounters/{mdtrt_id}:settle", "*"),
    }
    by_name = {b.method.name: b for b in all_bindings()}
    assert by_name["CancelFiling"].match("POST", "/v1/filings/F1:cancel") == {"v0": "F1"}
    assert by_name["CancelFiling"].match("POST", "/v1/filings/F1:change") is None
    assert by_name["GetFiling"].match("GET", "/v1/filings/F1:cancel") is None
    assert by_name["GetFiling"].match("POST", "/v1/filings/F1") is None


def test_query_text_sets_typed_fields_or_names_the_bad_one() -> None:
    request = filing_pb2.ListFilingsRequest()
    transcode.set_path(request, "page.page_size", "20")
    transcode.set_path(request, "psn_no", "450100ABCD")
    assert request.page.page_size == 20 and request.psn_no == "450100ABCD"
    cancel = filing_pb2.CancelFilingRequest()
    transcode.set_path(cancel, "reason", "CHANGE_REASON_PERSONAL_REQUEST")
    assert cancel.reason == filing_pb2.CHANGE_REASON_PERSONAL_REQUEST
    for path, text in (("page.page_size", "x"), ("nope", "1"), ("page", "1"), ("reason", "NO")):
        target = cancel if path == "reason" else request
        with pytest.raises(InvalidArgument) as info:
            transcode.set_path(target, path, text)
        assert info.value.violations[0].field == path


def test_grpc_codes_map_to_the_standard_http_statuses() -> None:
    expected = {
        code_pb2.INVALID_ARGUMENT: 400,
        code_pb2.FAILED_PRECONDITION: 400,
        code_pb2.UNAUTHENTICATED: 401,
        code_pb2.PERMISSION_DENIED: 403,
        code_pb2.NOT_FOUND: 404,
        code_pb2.ALREADY_EXISTS: 409,
        code_pb2.RESOURCE_EXHAUSTED: 429,
        code_pb2.INTERNAL: 500,
        code_pb2.UNAVAILABLE: 503,
        code_pb2.DEADLINE_EXCEEDED: 504,
    }
    for code, http in expected.items():
        assert transcode.http_status(status_pb2.Status(code=code)) == http


def test_token_buckets_refill_and_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_s=2.0, burst=3, max_keys=2, now=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [None, None, None]
    assert buckets.take("a") == pytest.approx(0.5)  # one token in half a second
    now[0] = 0.5
    assert buckets.take("a") is None
    buckets.take("b")
    buckets.take("c")  # the least recently used ("a") is dropped
    assert len(buckets) == 2
    assert buckets.take("a") is None  # back full


def test_the_development_identity_provider_refuses_outside_development_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("CROSSCLEAR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CROSSCLEAR_INSECURE_DEV", "false")
    get_settings.cache_clear()
    try:
        refused = runner.invoke(
            app, ["idp", "token", "--channel", "channel-web", "--person", "450100ABCD"]
        )
        assert refused.exit_code == 2 and "development only" in refused.output
        monkeypatch.setenv("CROSSCLEAR_INSECURE_DEV", "true")
        get_settings.cache_clear()
        issued = runner.invoke(
            app, ["idp", "token", "--channel", "channel-web", "--person", "450100ABCD"]
        )
        assert issued.exit_code == 0, issued.output
        assert issued.output.count(".") == 2  # a JWT
    finally:
        get_settings.cache_clear()
