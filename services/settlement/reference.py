"""ReferenceService: the downloads of hospitals and pharmacies (1201, 1312/1301/1305/1306,
1309, 1901), answered from memory — the institution registry and the catalogue versions
the settlement service holds anyway — so a download costs no database round trip.

A catalogue download is the list of changes from ``since_ver`` (nothing, for a full
download) to ``ver``, ordered by item code; pages are slices of that list after the last
code of the previous page. Versions are immutable, so the list of two versions never
changes and is computed once (a small cache keyed by the version ids).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from enum import Enum
from functools import lru_cache
from typing import Any, Final

from services.settlement import registry
from services.settlement.dictionaries import (
    MAX_DIC_TYPES_PER_REQUEST,
    chronic_diseases,
    code_sets,
)
from services.settlement.domain.catalogue import Catalogue, CatalogueItem, ItemClass, ItemKind
from services.settlement.institution_file import optional_date
from services.settlement.registry import DesignatedInstitution
from services.settlement.versions import Versions
from shared import clock, pb_enums
from shared.auth import CallerKind, caller
from shared.errors import InvalidArgument, NotFound, Violations
from shared.money import BP_PER_UNIT
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.reference.v1 import reference_pb2 as pb
from shared.pb.crossclear.reference.v1 import reference_pb2_grpc
from shared.reference import INSTITUTION_CODE_RE, InstitutionKind, is_pool

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["ReferenceService"].full_name
INSTITUTIONS_PAGE_DEFAULT: Final = 100
CATALOGUE_PAGE_DEFAULT: Final = 500
PAGE_SIZE_MAX: Final = 1_000
PAGE_TOKEN_CHARS_MAX: Final = 400
_DIFF_CACHE_SIZE: Final = 64

_KINDS = pb_enums.EnumMap(pb.InstitutionKind, "INSTITUTION_KIND_", InstitutionKind)
_LIST_TYPES = pb_enums.EnumMap(pb.ListType, "LIST_TYPE_", ItemKind)
_ITEM_CLASSES = pb_enums.EnumMap(pb.ItemClass, "ITEM_CLASS_", ItemClass)


class Change(Enum):
    ADDED = pb.CHANGE_ADDED
    CHANGED = pb.CHANGE_CHANGED
    REMOVED = pb.CHANGE_REMOVED


Entry = tuple[Change, CatalogueItem]


def catalogue_changes(
    target: Catalogue, since: Catalogue | None, kind: ItemKind | None
) -> tuple[Entry, ...]:
    """What a holder of ``since`` (None: nothing) needs to hold ``target``, by item code."""
    old = {i.code: i for i in since.items} if since else {}
    new = {i.code: i for i in target.items}
    share_changed = (
        since is not None and since.class_b_preselfpay_bp != target.class_b_preselfpay_bp
    )
    entries: list[Entry] = []
    for code in sorted(old.keys() | new.keys()):
        before, after = old.get(code), new.get(code)
        item = after or before
        assert item is not None
        if (
            kind is not None
            and item.kind is not kind
            and (before is None or before.kind is not kind)
        ):
            continue
        if after is None:
            entries.append((Change.REMOVED, item))
        elif before is None:
            entries.append((Change.ADDED, after))
        elif before != after or (share_changed and after.item_class is ItemClass.B):
            entries.append((Change.CHANGED, after))
    return tuple(entries)


def selfpay_share_bp(item: CatalogueItem, catalogue: Catalogue) -> int:
    """1319: the share the patient pays first — none for A, the catalogue's for B, all for C."""
    if item.item_class is ItemClass.A:
        return 0
    if item.item_class is ItemClass.B:
        return catalogue.class_b_preselfpay_bp
    return BP_PER_UNIT


class ReferenceServicer(reference_pb2_grpc.ReferenceServiceServicer):
    def __init__(self, versions: Versions) -> None:
        self._versions = versions
        self._changes = lru_cache(maxsize=_DIFF_CACHE_SIZE)(self._compute_changes)

    # -- 1201 -----------------------------------------------------------------------------

    async def QueryInstitutions(
        self, request: pb.QueryInstitutionsRequest, context: Any
    ) -> pb.QueryInstitutionsResponse:
        _require_caller()
        errors = Violations()
        code, pool = request.fixmedins_code, request.admdvs
        if code:
            errors.check(
                INSTITUTION_CODE_RE.fullmatch(code) is not None,
                "fixmedins_code",
                "not a 12-character institution code (H/P + pool + 5 digits)",
            )
        if pool:
            errors.check(is_pool(pool), "admdvs", "not a pool code on file")
        kind = None
        if request.fixmedins_type:
            kind = _KINDS.member(request.fixmedins_type)
            errors.check(kind is not None, "fixmedins_type", "unknown institution kind")
        day = optional_date(request.as_of_date, errors, "as_of_date") or clock.china_today()
        size = _page_size(request.page, INSTITUTIONS_PAGE_DEFAULT, errors)
        errors.raise_if_any()
        query = [code, pool, request.fixmedins_type, day.isoformat()]
        after = _after(request.page, query)
        found = registry.current().query(
            day, code=code, pool_code=pool, kind=kind, after_code=after, limit=size
        )
        return pb.QueryInstitutionsResponse(
            institutions=[_institution(i) for i in found],
            next_page_token=_token(query, found[-1].code) if len(found) == size else "",
        )

    # -- 1312 (1301 / 1305 / 1306) ---------------------------------------------------------

    async def DownloadCatalogue(
        self, request: pb.DownloadCatalogueRequest, context: Any
    ) -> pb.DownloadCatalogueResponse:
        who = _require_caller()
        errors = Violations()
        province = request.province_code or (who.province or "")
        errors.check(
            len(province) == 2 and province.isdigit(),
            "province_code",
            "required for this caller: the 2-digit treatment province (45, 44)",
        )
        kind = None
        if request.list_type:
            kind = _LIST_TYPES.member(request.list_type)
            errors.check(kind is not None, "list_type", "unknown list type")
        size = _page_size(request.page, CATALOGUE_PAGE_DEFAULT, errors)
        errors.raise_if_any()
        target = self._version(province, request.ver, "ver")
        since = (
            self._version(province, request.since_ver, "since_ver") if request.since_ver else None
        )
        query = [province, target.version_id, request.since_ver, request.list_type]
        after = _after(request.page, query)
        entries = self._changes(target.version_id, since.version_id if since else "", kind)
        start = _start_after(entries, after)
        page = entries[start : start + size]
        more = start + size < len(entries)
        return pb.DownloadCatalogueResponse(
            province_code=province,
            ver=target.version_id,
            ver_effective_date=target.effective_date.isoformat(),
            since_ver=request.since_ver,
            entries=[
                pb.CatalogueEntry(
                    change=change.value,
                    item=_item(item, since if change is Change.REMOVED and since else target),
                )
                for change, item in page
            ],
            next_page_token=_token(query, page[-1][1].code) if more and page else "",
            total_count=len(entries),
        )

    def _version(self, province: str, version_id: str, field_name: str) -> Catalogue:
        catalogues = [c for c in self._versions.snapshot.catalogues if c.province_code == province]
        if not version_id:
            return self._versions.catalogue_for(province, clock.china_today())
        for catalogue in catalogues:
            if catalogue.version_id == version_id:
                return catalogue
        known = ", ".join(sorted(c.version_id for c in catalogues)[:20]) or "none"
        raise NotFound(
            f"{field_name}: no catalogue version {version_id!r} of province {province} is on"
            f" file (on file: {known})"
        )

    def _compute_changes(
        self, target_id: str, since_id: str, kind: ItemKind | None
    ) -> tuple[Entry, ...]:
        by_id = {c.version_id: c for c in self._versions.snapshot.catalogues}
        return catalogue_changes(by_id[target_id], by_id[since_id] if since_id else None, kind)

    # -- 1309 / 1901 ----------------------------------------------------------------------

    async def DownloadChronicDiseases(
        self, request: pb.DownloadChronicDiseasesRequest, context: Any
    ) -> pb.DownloadChronicDiseasesResponse:
        _require_caller()
        return pb.DownloadChronicDiseasesResponse(
            diseases=[pb.ChronicDisease(code=c, name_zh=n) for c, n in chronic_diseases()]
        )

    async def DownloadDictionary(
        self, request: pb.DownloadDictionaryRequest, context: Any
    ) -> pb.DownloadDictionaryResponse:
        _require_caller()
        sets = code_sets()
        names = list(request.dic_types)
        if len(names) > MAX_DIC_TYPES_PER_REQUEST:
            raise InvalidArgument("dic_types", f"at most {MAX_DIC_TYPES_PER_REQUEST} names")
        errors = Violations()
        for index, name in enumerate(names):
            errors.check(
                name in sets, f"dic_types[{index}]", f"unknown code set; known: {', '.join(sets)}"
            )
        errors.raise_if_any()
        return pb.DownloadDictionaryResponse(
            dictionaries=[
                pb.Dictionary(
                    dic_type=name,
                    entries=[
                        pb.DictionaryEntry(value=v, label_zh=label) for v, label in sets[name]
                    ],
                )
                for name in (dict.fromkeys(names) if names else sets)
            ]
        )


# --- helpers ------------------------------------------------------------------------------


def _require_caller() -> Any:
    who = caller()
    who.require(CallerKind.HOSPITAL, CallerKind.PHARMACY)
    return who


def _page_size(page: common_pb2.PageRequest, default: int, errors: Violations) -> int:
    size = page.page_size
    if size < 0 or size > PAGE_SIZE_MAX:
        errors.add("page.page_size", f"must be between 1 and {PAGE_SIZE_MAX} (0: {default})")
        return default
    return size or default


def _token(query: list[Any], after: str) -> str:
    raw = json.dumps({"q": query, "a": after}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(page: common_pb2.PageRequest, query: list[Any]) -> str:
    """The code the page starts after; the token must have been issued for this query."""
    token = page.page_token
    if not token:
        return ""
    bad = InvalidArgument("page.page_token", "not a token this service issued for this query")
    if len(token) > PAGE_TOKEN_CHARS_MAX:
        raise bad
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(body, dict) or body.get("q") != query or not isinstance(body.get("a"), str):
        raise bad
    return str(body["a"])


def _start_after(entries: Sequence[Entry], after: str) -> int:
    if not after:
        return 0
    low, high = 0, len(entries)
    while low < high:  # first entry whose code is greater than ``after``
        mid = (low + high) // 2
        if entries[mid][1].code <= after:
            low = mid + 1
        else:
            high = mid
    return low


def _institution(i: DesignatedInstitution) -> pb.Institution:
    return pb.Institution(
        fixmedins_code=i.code,
        fixmedins_name=i.name_zh,
        admdvs=i.pool_code,
        fixmedins_type=_KINDS.number(i.kind),
        hosp_lv=i.level or 0,
        designated_from=i.designated_from.isoformat(),
        designated_until=i.designated_until.isoformat() if i.designated_until else "",
        effective_date=i.effective_date.isoformat(),
    )


def _item(item: CatalogueItem, catalogue: Catalogue) -> pb.CatalogueItem:
    r = item.restrictions
    restrictions = pb.Restrictions(
        inpatient_only=r.inpatient_only,
        gend=pb_enums.GENDER.number(r.sex) if r.sex else pb.GENDER_UNSPECIFIED,
        chronic_disease_codes=[d.value for d in r.chronic_diseases],
    )
    if r.min_age_years is not None:
        restrictions.min_age_years = r.min_age_years
    if r.max_age_years is not None:
        restrictions.max_age_years = r.max_age_years
    if r.max_quantity_e4_per_bill is not None:
        restrictions.max_cnt_e4 = r.max_quantity_e4_per_bill
    out = pb.CatalogueItem(
        med_list_codg=item.code,
        med_list_name=item.name_zh,
        name_en=item.name_en,
        list_type=_LIST_TYPES.number(item.kind),
        chrgitm_lv=_ITEM_CLASSES.number(item.item_class),
        prcunt=item.unit,
        selfpay_prop_bp=selfpay_share_bp(item, catalogue),
        restrictions=restrictions,
    )
    if item.price_limit_fen is not None:
        out.pric_uplmt_amt_fen = item.price_limit_fen
    if item.reference_price_fen is not None:
        out.reference_price_fen = item.reference_price_fen
    return out
