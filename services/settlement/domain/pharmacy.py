"""Designated-pharmacy purchases (定点药店购药, 2101/2102/2103): the pure rules.

A purchase is an encounter of the usual model opened, lined and settled at once: the
pharmacy sends its drug lines with the settling request, there is no separate upload.

* ordinary purchase, national med_type "41": the insured pool's policy says whether
  pharmacies are admitted to ordinary-outpatient pooling (:class:`PharmacyRule`); if not,
  the personal account and cash pay it;
* chronic/special-disease drugs at a pharmacy of the dual channel (双通道), med_type "14"
  with the disease: the chronic/special outpatient rules, and the same certification of
  the disease by the insured pool as a hospital's chronic visit.

Which pharmacies are on the dual channel is reference data of our own
(``data/pharmacies.json``, modeled).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Final

from shared import vocabulary
from shared.errors import FailedPrecondition, Violations

from .codes import ChronicDisease, HospitalLevel, VisitType

DATA_PACKAGE: Final = "services.settlement.data"
PHARMACIES_FILE: Final = "pharmacies.json"
# An encounter carries a hospital level; a pharmacy has none. The visit types a pharmacy
# settles (ordinary outpatient rules, chronic rules) take no level-dependent figure, so
# its encounters carry level 1 (基层), which no split reads. Modeled.
PHARMACY_LEVEL: Final = HospitalLevel.LEVEL_1
PURCHASE_VISITS: Final = frozenset({VisitType.PHARMACY_PURCHASE, VisitType.CHRONIC_OUTPATIENT})
NOT_DUAL_CHANNEL: Final = "PHARMACY_NOT_DUAL_CHANNEL"


@cache
def dual_channel_pharmacies() -> frozenset[str]:
    """Codes of the pharmacies designated for chronic/special-disease drugs (双通道)."""
    raw = json.loads(resources.files(DATA_PACKAGE).joinpath(PHARMACIES_FILE).read_text("utf-8"))
    codes = raw.get("dual_channel")
    if raw.get("modeled") is not True or not isinstance(codes, list):
        raise ValueError(f"{PHARMACIES_FILE}: needs modeled: true and a dual_channel list")
    if not all(isinstance(c, str) and len(c) == 12 and c.startswith("P") for c in codes):
        raise ValueError(f"{PHARMACIES_FILE}: dual_channel holds pharmacy codes (P…)")
    return frozenset(codes)


def read_purchase_type(
    visit_type: VisitType | None, disease_code: str, errors: Violations
) -> ChronicDisease | None:
    """The disease of a chronic purchase (med_type 14); none for an ordinary one (41)."""
    if visit_type is not VisitType.CHRONIC_OUTPATIENT:
        errors.check(not disease_code, "dise_codg", "only for chronic/special-disease drugs (14)")
        return None
    national = vocabulary.national_chronic_code(disease_code)
    if national is None:
        shown = repr(disease_code[:20]) if disease_code else "empty"
        errors.add("dise_codg", f"{shown} is not {vocabulary.CHRONIC_DISEASE_LIST_HINT}")
        return None
    return ChronicDisease(national)


def require_dual_channel(pharmacy_code: str, disease: ChronicDisease | None) -> None:
    """Chronic/special-disease drugs are settled only at a dual-channel pharmacy."""
    if disease is not None and pharmacy_code not in dual_channel_pharmacies():
        raise FailedPrecondition(
            NOT_DUAL_CHANNEL,
            f"pharmacy {pharmacy_code} is not designated for chronic/special-disease drugs "
            "(双通道): sell them as an ordinary purchase (41) or refer the patient",
        )
