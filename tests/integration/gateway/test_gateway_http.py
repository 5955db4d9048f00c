"""The channels' HTTP/JSON API, as a client sees it: the real gateway in front of the real
filing service, with the person's token."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import asyncpg
from openapi_spec_validator import validate

from services.gateway.app import SERVICES
from services.gateway.bindings import bindings_of
from shared.config import Settings
from shared.devidp import DevIdp

from ..filing.support import NANNING, Api, row_counts, submission, today
from .conftest import Http, gateway_settings, start_gateway

RPC = "type.googleapis.com/google.rpc."


def _filing_body(psn_no: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "channel": "CHANNEL_WEB",
        "channel_request_id": f"http-{psn_no}-{len(changes)}",
        "psn_no": psn_no,
        "category": "FILING_CATEGORY_OTHER_TEMPORARY",
        "destination": {"pool_code": "440100"},
        "start_date": today().isoformat(),
        "commitment_accepted": True,
    }
    body.update(changes)
    return body


def _detail(status: dict[str, object], name: str) -> dict[str, object]:
    details = status.get("details", [])
    assert isinstance(details, list)
    found = [d for d in details if d["@type"] == RPC + name]
    assert found, (name, status)
    return found[0]  # type: ignore[no-any-return]


async def test_a_person_submits_lists_changes_and_cancels_over_http(
    http: Http, api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await api.new_person(NANNING)
    token = api.tokens.person("channel-web", person.psn_no)

    code, reply, _ = await http.call("POST", "/v1/filings", token, _filing_body(person.psn_no))
    assert code == 200, reply
    filing = reply["filing"]
    assert filing["psn_no"] == person.psn_no  # proto field names
    assert filing["status"] == "FILING_STATUS_ACTIVE"  # enums by name
    assert filing["channel"] == "CHANNEL_WEB"
    assert reply["retroactive"] is False  # defaults are printed
    filing_id = filing["filing_id"]

    code, listed, _ = await http.call(
        "GET", f"/v1/persons/{person.psn_no}/filings?page.page_size=10", token
    )
    assert code == 200, listed
    assert [f["filing_id"] for f in listed["filings"]] == [filing_id]

    code, got, _ = await http.call("GET", f"/v1/filings/{filing_id}", token)
    assert code == 200 and got["filing"]["filing_id"] == filing_id

    change = {
        "channel": "CHANNEL_WEB",
        "channel_request_id": "http-change-1",
        "reason": "CHANGE_REASON_PERSONAL_REQUEST",
        "destination": {"province_code": "44"},
    }
    code, changed, _ = await http.call("POST", f"/v1/filings/{filing_id}:change", token, change)
    assert code == 200, changed
    assert changed["filing"]["destination"] == {"province_code": "44"}
    assert changed["filing"]["version"] == 2

    cancel = {
        "channel": "CHANNEL_WEB",
        "channel_request_id": "http-cancel-1",
        "reason": "CHANGE_REASON_PERSONAL_REQUEST",
    }
    code, cancelled, _ = await http.call("POST", f"/v1/filings/{filing_id}:cancel", token, cancel)
    assert code == 200, cancelled
    assert cancelled["filing"]["status"] == "FILING_STATUS_CANCELLED"
    async with filing_db.acquire() as conn:
        acted = await conn.fetch(
            "SELECT DISTINCT acted_by FROM filings WHERE filing_id = $1", filing_id
        )
    assert [r["acted_by"] for r in acted] == [f"person:{person.psn_no}"]


async def test_without_a_token_401_with_another_persons_403_and_nothing_written(
    http: Http, api: Api, filing_db: asyncpg.Pool
) -> None:
    owner, other = await api.new_person(NANNING), await api.new_person(NANNING)
    filed = await api.submit(submission(owner.psn_no))
    filing_id = filed.filing.filing_id
    before = await row_counts(filing_db)

    code, status, _ = await http.call("POST", "/v1/filings", None, _filing_body(owner.psn_no))
    assert code == 401, status
    assert status["code"] == 16  # UNAUTHENTICATED
    assert "Bearer" in status["message"]
    assert "重新登录" in str(_detail(status, "LocalizedMessage")["message"])

    code, status, _ = await http.call("GET", f"/v1/persons/{owner.psn_no}/filings", "not.a.jwt")
    assert code == 401, status

    intruder = api.tokens.person("channel-web", other.psn_no)
    cancel = {
        "channel": "CHANNEL_WEB",
        "channel_request_id": "intruder",
        "reason": "CHANGE_REASON_PERSONAL_REQUEST",
    }
    for method, path, body in (
        ("POST", "/v1/filings", _filing_body(owner.psn_no)),
        ("POST", f"/v1/filings/{filing_id}:cancel", cancel),
        ("GET", f"/v1/filings/{filing_id}", None),
        ("GET", f"/v1/persons/{owner.psn_no}/filings", None),
    ):
        code, status, _ = await http.call(method, path, intruder, body)
        assert code == 403, (path, status)
        assert status["code"] == 7  # PERMISSION_DENIED
    assert await row_counts(filing_db) == before


async def test_field_violations_come_back_as_bad_request_json_with_chinese(
    http: Http, api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await api.new_person(NANNING)
    token = api.tokens.person("channel-web", person.psn_no)
    before = await row_counts(filing_db)
    start = today() + timedelta(days=5)
    body = _filing_body(person.psn_no, start_date=start.isoformat(), end_date=today().isoformat())
    code, status, headers = await http.call("POST", "/v1/filings", token, body)
    assert code == 400, status
    assert status["code"] == 3  # INVALID_ARGUMENT
    fields = [v["field"] for v in _detail(status, "BadRequest")["field_violations"]]  # type: ignore[union-attr]
    assert "end_date" in fields, status
    zh = _detail(status, "LocalizedMessage")
    assert zh["locale"] == "zh-CN" and "请求参数有误" in str(zh["message"])
    assert _detail(status, "ErrorInfo")["metadata"]["request_id"] == headers["X-Request-Id"]  # type: ignore[index]

    code, status, _ = await http.call("POST", "/v1/filings", token, {"no_such_field": 1})
    assert code == 400 and "body" in str(status), status
    huge = {"psn_no": "x" * (http.gateway.settings.gateway_max_body_bytes + 1)}
    code, status, _ = await http.call("POST", "/v1/filings", token, huge)
    assert code == 400 and "larger than" in status["message"], status
    async with http.session.post(
        http.base + "/v1/filings",
        data=b"\xff\xfe",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "bad id\u00e9"},
    ) as response:
        assert response.status == 400
        assert response.headers["X-Request-Id"] != "bad id\u00e9"
    code, status, _ = await http.call(
        "GET", f"/v1/persons/{person.psn_no}/filings?page.page_size=x", token
    )
    assert code == 400 and "page.page_size" in str(status), status
    assert await row_counts(filing_db) == before


async def test_unknown_routes_are_404_json(http: Http) -> None:
    code, status, _ = await http.call("GET", "/v1/nothing-here", None)
    assert code == 404 and status["code"] == 5


async def test_rate_limits_per_person_answer_429_with_retry_after(
    settings: Settings, filing_service: object, dev_idp: DevIdp, api: Api
) -> None:
    limited = gateway_settings(
        settings, filing_service, dev_idp, gateway_person_burst=2, gateway_person_rate_per_s=0.1
    )
    runner, _gateway, base = await start_gateway(limited)
    try:
        person, other = await api.new_person(NANNING), await api.new_person(NANNING)
        async with aiohttp.ClientSession() as session:
            client = Http(base, session, _gateway)
            token = api.tokens.person("channel-app", person.psn_no)
            path = f"/v1/persons/{person.psn_no}/filings"
            codes = [(await client.call("GET", path, token))[0] for _ in range(2)]
            assert codes == [200, 200]
            code, status, headers = await client.call("GET", path, token)
            assert code == 429, status
            assert status["code"] == 8  # RESOURCE_EXHAUSTED
            assert int(headers["Retry-After"]) >= 1
            _detail(status, "RetryInfo")
            # Another person of the same channel is not held back.
            other_token = api.tokens.person("channel-app", other.psn_no)
            code, _, _ = await client.call(
                "GET", f"/v1/persons/{other.psn_no}/filings", other_token
            )
            assert code == 200
    finally:
        await runner.cleanup()


async def test_the_openapi_document_validates_and_lists_every_bound_rpc(http: Http) -> None:
    async with http.session.get(http.base + "/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    validate(spec)
    operations = {
        op["operationId"] for methods in spec["paths"].values() for op in methods.values()
    }
    bound = {b.method.name for service in SERVICES for b in bindings_of(service)}
    assert bound == {
        "SubmitFiling",
        "ChangeFiling",
        "CancelFiling",
        "GetFiling",
        "ListFilings",
        "Register",
        "UploadFeeDetails",
        "Settle",
    }
    assert operations == bound
    listing = spec["paths"]["/v1/persons/{psn_no}/filings"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"psn_no", "page.page_size", "page.page_token"} <= names
    filing = spec["components"]["schemas"]["crossclear.filing.v1.Filing"]
    assert filing["properties"]["status"]["enum"][1] == "FILING_STATUS_ACTIVE"
