"""A hospital downloads the reference data through a real gRPC client: the catalogue in full
and, after an operator loads a new version, only what changed; paging limits; unknown
versions; the registry (1201), the disease list (1309) and the dictionaries (1901)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.settlement.domain.seed import DATA_PACKAGE, load_catalogues
from shared.config import Settings
from shared.grpc_client import caller_metadata
from shared.grpc_errors import field_violations_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.reference.v1 import reference_pb2 as rpb
from shared.pb.crossclear.reference.v1 import reference_pb2_grpc
from tests.support.polling import wait_until

from .support import rpc_error

HOSPITAL, PHARMACY = "H45010000001", "P45010000001"
BASE = "GX-CAT-2026.01"
FUTURE = "2099-01-01"  # a version effective far ahead: today's settlements never use it
DATA = Path(__file__).resolve().parents[3] / DATA_PACKAGE.replace(".", "/")
PICKUP_WAIT_S = 10.0


@pytest.fixture(scope="module")
async def reference(settlement_channel: grpc.aio.Channel) -> AsyncIterator[object]:
    yield reference_pb2_grpc.ReferenceServiceStub(settlement_channel)


def base_catalogue() -> object:
    return next(c for c in load_catalogues() if c.version_id == BASE)


async def download_all(
    stub: object, caller: str = HOSPITAL, page_size: int = 100, **query: object
) -> tuple[list[rpb.CatalogueEntry], int, int]:
    """Every entry of a download, page by page; the entries, the total and the page count."""
    entries: list[rpb.CatalogueEntry] = []
    token, pages, total = "", 0, -1
    while True:
        page = await stub.DownloadCatalogue(  # type: ignore[attr-defined]
            rpb.DownloadCatalogueRequest(
                page=common_pb2.PageRequest(page_size=page_size, page_token=token), **query
            ),
            metadata=caller_metadata(caller),
        )
        pages += 1
        assert total in (-1, page.total_count)
        total = page.total_count
        entries.extend(page.entries)
        token = page.next_page_token
        if not token:
            return entries, total, pages
        assert pages < 100


async def test_full_download_pages_through_the_whole_catalogue(reference: object) -> None:
    base = base_catalogue()
    entries, total, pages = await download_all(reference, ver=BASE)
    assert total == len(entries) == len(base.items)  # type: ignore[attr-defined]
    assert pages == -(-total // 100)
    codes = [e.item.med_list_codg for e in entries]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert {e.change for e in entries} == {rpb.CHANGE_ADDED}
    by_code = {e.item.med_list_codg: e.item for e in entries}
    for item in base.items:  # type: ignore[attr-defined]
        got = by_code[item.code]
        assert got.med_list_name == item.name_zh
        assert got.HasField("pric_uplmt_amt_fen") == (item.price_limit_fen is not None)
        share = {"A": 0, "B": base.class_b_preselfpay_bp, "C": 10_000}[item.item_class.value]  # type: ignore[attr-defined]
        assert got.selfpay_prop_bp == share
        assert list(got.restrictions.chronic_disease_codes) == [
            d.value for d in item.restrictions.chronic_diseases
        ]
        assert got.restrictions.inpatient_only == item.restrictions.inpatient_only
    # A pharmacy downloads too; the drug list (1301) is the drugs only.
    drugs, drug_total, _ = await download_all(
        reference, caller=PHARMACY, page_size=1000, ver=BASE, list_type=rpb.LIST_TYPE_DRUG
    )
    assert drug_total == sum(1 for i in base.items if i.kind.value == "DRUG")  # type: ignore[attr-defined]
    assert {e.item.list_type for e in drugs} == {rpb.LIST_TYPE_DRUG}


async def test_paging_limits_and_unknown_versions_are_clear_errors(reference: object) -> None:
    md = caller_metadata(HOSPITAL)
    for size in (1001, -1):
        error = await rpc_error(
            reference.DownloadCatalogue(  # type: ignore[attr-defined]
                rpb.DownloadCatalogueRequest(ver=BASE, page=common_pb2.PageRequest(page_size=size)),
                metadata=md,
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations_of(error) == ["page.page_size"]
    error = await rpc_error(
        reference.DownloadCatalogue(  # type: ignore[attr-defined]
            rpb.DownloadCatalogueRequest(ver=BASE, page=common_pb2.PageRequest(page_token="x!")),
            metadata=md,
        )
    )
    assert field_violations_of(error) == ["page.page_token"]
    # A token is good only for the query that issued it.
    first = await reference.DownloadCatalogue(  # type: ignore[attr-defined]
        rpb.DownloadCatalogueRequest(ver=BASE, page=common_pb2.PageRequest(page_size=10)),
        metadata=md,
    )
    error = await rpc_error(
        reference.DownloadCatalogue(  # type: ignore[attr-defined]
            rpb.DownloadCatalogueRequest(
                ver=BASE,
                list_type=rpb.LIST_TYPE_DRUG,
                page=common_pb2.PageRequest(page_size=10, page_token=first.next_page_token),
            ),
            metadata=md,
        )
    )
    assert field_violations_of(error) == ["page.page_token"]
    for request, field in (
        (rpb.DownloadCatalogueRequest(ver="GX-CAT-1999.01"), "ver"),
        (rpb.DownloadCatalogueRequest(ver=BASE, since_ver="GD-CAT-2026.01"), "since_ver"),
    ):
        error = await rpc_error(reference.DownloadCatalogue(request, metadata=md))  # type: ignore[attr-defined]
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert (error.details() or "").startswith(f"{field}: ")
    # Who may download: hospitals, pharmacies, operators — not a pool agency.
    error = await rpc_error(
        reference.DownloadCatalogue(
            rpb.DownloadCatalogueRequest(), metadata=caller_metadata("450100")
        )  # type: ignore[attr-defined]
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await rpc_error(
        reference.DownloadCatalogue(
            rpb.DownloadCatalogueRequest(), metadata=caller_metadata("op-admin")
        )  # type: ignore[attr-defined]
    )
    assert field_violations_of(error) == ["province_code"]


def crossclear(settings: Settings, *args: str) -> str:
    env = {**os.environ, "CROSSCLEAR_DATABASE_URL": settings.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "settlement", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_after_a_new_version_only_the_changes_are_downloaded(
    reference: object, settings: Settings, tmp_path: Path, unique: str
) -> None:
    text = (DATA / "catalogue_45_guangxi.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    removed = rows.pop(0)["code"]
    changed = next(r for r in rows if r["price_limit_fen"])
    changed["price_limit_fen"] = str(int(changed["price_limit_fen"]) + 100)
    rows.append({**changed, "code": "X99990", "name_zh": "新增测试药品"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
    writer.writeheader()
    writer.writerows(rows)
    file = tmp_path / "catalogue.csv"
    file.write_text(out.getvalue(), encoding="utf-8")
    version = f"GX-CAT-T{unique}"
    crossclear(
        settings, "load-catalogue", str(file), "--province", "45", "--version", version,
        "--effective", FUTURE,
    )  # fmt: skip

    md = caller_metadata(HOSPITAL)
    request = rpb.DownloadCatalogueRequest(ver=version, since_ver=BASE)

    async def picked_up() -> rpb.DownloadCatalogueResponse | None:
        try:
            return await reference.DownloadCatalogue(request, metadata=md)  # type: ignore[attr-defined]
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error
            return None

    delta = await wait_until(picked_up, timeout_s=PICKUP_WAIT_S, what="new version")
    got = {(e.change, e.item.med_list_codg) for e in delta.entries}
    assert got == {
        (rpb.CHANGE_REMOVED, removed),
        (rpb.CHANGE_CHANGED, changed["code"]),
        (rpb.CHANGE_ADDED, "X99990"),
    }
    assert delta.total_count == 3 and not delta.next_page_token
    assert delta.ver_effective_date == FUTURE and delta.since_ver == BASE
    by_code = {e.item.med_list_codg: e.item for e in delta.entries}
    assert by_code[changed["code"]].pric_uplmt_amt_fen == int(changed["price_limit_fen"])
    # Back the other way the same three, mirrored; the full new version has one more.
    back = await reference.DownloadCatalogue(  # type: ignore[attr-defined]
        rpb.DownloadCatalogueRequest(ver=BASE, since_ver=version), metadata=md
    )
    assert {(e.change, e.item.med_list_codg) for e in back.entries} == {
        (rpb.CHANGE_ADDED, removed),
        (rpb.CHANGE_CHANGED, changed["code"]),
        (rpb.CHANGE_REMOVED, "X99990"),
    }
    _, total, _ = await download_all(reference, page_size=1000, ver=version)
    assert total == len(base_catalogue().items)  # type: ignore[attr-defined]


async def test_institutions_diseases_and_dictionaries(reference: object) -> None:
    md = caller_metadata(PHARMACY)
    nanning = await reference.QueryInstitutions(  # type: ignore[attr-defined]
        rpb.QueryInstitutionsRequest(
            admdvs="450100", fixmedins_type=rpb.INSTITUTION_KIND_HOSPITAL,
            page=common_pb2.PageRequest(page_size=3),
        ),
        metadata=md,
    )  # fmt: skip
    assert len(nanning.institutions) == 3 and nanning.next_page_token
    rest = await reference.QueryInstitutions(  # type: ignore[attr-defined]
        rpb.QueryInstitutionsRequest(
            admdvs="450100", fixmedins_type=rpb.INSTITUTION_KIND_HOSPITAL,
            page=common_pb2.PageRequest(page_size=1000, page_token=nanning.next_page_token),
        ),
        metadata=md,
    )  # fmt: skip
    every = [*nanning.institutions, *rest.institutions]
    assert {i.hosp_lv for i in every} == {1, 2, 3}
    assert all(i.admdvs == "450100" and i.fixmedins_code.startswith("H") for i in every)
    one = await reference.QueryInstitutions(  # type: ignore[attr-defined]
        rpb.QueryInstitutionsRequest(fixmedins_code=PHARMACY), metadata=md
    )
    assert [(i.fixmedins_type, i.hosp_lv) for i in one.institutions] == [
        (rpb.INSTITUTION_KIND_PHARMACY, 0)
    ]
    error = await rpc_error(
        reference.QueryInstitutions(  # type: ignore[attr-defined]
            rpb.QueryInstitutionsRequest(
                fixmedins_code="H4501", admdvs="999999", page=common_pb2.PageRequest(page_size=5000)
            ),
            metadata=md,
        )
    )
    assert field_violations_of(error) == ["fixmedins_code", "admdvs", "page.page_size"]

    diseases = await reference.DownloadChronicDiseases(  # type: ignore[attr-defined]
        rpb.DownloadChronicDiseasesRequest(), metadata=md
    )
    assert len(diseases.diseases) >= 10
    assert all(d.code and d.name_zh for d in diseases.diseases)

    dictionary = await reference.DownloadDictionary(  # type: ignore[attr-defined]
        rpb.DownloadDictionaryRequest(dic_types=["insutype", "med_type", "gender"]), metadata=md
    )
    sets = {d.dic_type: {e.value: e.label_zh for e in d.entries} for d in dictionary.dictionaries}
    assert sets["insutype"]["310"] == "职工基本医疗保险"
    assert sets["med_type"]["21"] == "普通住院"
    assert {"1": "男", "2": "女"}.items() <= sets["gender"].items()
    everything = await reference.DownloadDictionary(  # type: ignore[attr-defined]
        rpb.DownloadDictionaryRequest(), metadata=md
    )
    names = {d.dic_type for d in everything.dictionaries}
    assert {"chronic_disease", "hosp_lv", "fund_pay_type", "psn_type"} <= names
    error = await rpc_error(
        reference.DownloadDictionary(  # type: ignore[attr-defined]
            rpb.DownloadDictionaryRequest(dic_types=["insutype", "nonsense"]), metadata=md
        )
    )
    assert field_violations_of(error) == ["dic_types[1]"]


async def test_the_settlement_process_serves_it_with_health_and_reflection(
    settlement_channel: grpc.aio.Channel, settlement_ready: Any
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from tests.integration.platform.test_reflection import describe, listed_services

    name = "crossclear.reference.v1.ReferenceService"
    assert name in await listed_services(settlement_ready.port)
    assert await describe(settlement_ready.port, name)
    health = health_pb2_grpc.HealthStub(settlement_channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
