"""Inpatient fee-line recipes (住院, **modeled**) and the stays an emergency, a referral or an
ordinary admission draws from. The table is written as ``recipes`` reads it: a
``key | label | conditions`` line, then the parts."""

from __future__ import annotations

from services.simulation.recipe_parts import Recipe, parts, recipes

_GROUPS = {
    "ward": parts(
        """
    110900001 /day, 120100003 /day, 110200006 /day, 250101015 1-3, 250101016, 250305001 1-2,
    250307001 1-2, 250310001 1-2 p60, 120400001 1-2 /day, X12008 1-2 /day,
    C0101010010001 1-2 /day, C0101040010001 1-2, C0101010020001 2-6, 260000001 p40
"""
    ),
    "surgery": parts(
        """
    330100005, C0308020010001, X04004 2-6, X12009 2-4, X12010 2-4, 120600001 p50,
    C0101020010001 p50
"""
    ),
}

# -- inpatient (住院) --------------------------------------------------------------------

_INPATIENT = """
pneumonia | community-acquired pneumonia | stay 5-10
    *ward, 250403001 1-3, 250401001 1-2 p60, 210102015 1-2, X04004 1-2 /day p60,
    X04005 2 /day p30, X04009 1-3 /day p8, X06004 1-2, 120800001 4-8 /day p50, Z01015 6-12 p30
appendicitis | appendectomy | stay 3-6
    *ward, *surgery, 331003001, X04012 6-18, 220301001
gallstones | laparoscopic cholecystectomy | stay 3-6
    *ward, *surgery, 331005002, 220301001, C0305010010001 p40, X05002 2-4
pci | acute coronary syndrome with stent | stay 4-8, age 35+
    *ward, 110900004 1-2, 320600001, 320600004, C0302010010001 1-2, C0302010020001 1-2,
    120900001 /day, X03005 14-28 p60, X03004 14-28 p40, X03001 14-28, X03017 1-2,
    X03016 4-8 p60, 220600004, 310701001 1-3
hip | total hip arthroplasty | stay 9-14, age 55+
    *ward, *surgery, 330900001, C0303010010001, X03016 6-10, 210102015 1-2, 340200001 3-6,
    X12011 1-3 p30
knee | total knee arthroplasty | stay 8-12, age 55+
    *ward, *surgery, 330900002, C0303010020001, X03016 6-10, 340200001 3-6
caesarean | caesarean delivery | stay 3-5, sex 2, age 20-42
    *ward, 330100003, 331300001, X13009 1-2, X04004 2-4, 120600001, X12010 2-4
turp | benign prostatic hyperplasia (TURP) | stay 4-7, sex 1, age 55+
    *ward, 330100003, 331101001, 120600001 1-2, X13001 14-28, 250404010
cataract | cataract surgery | stay 1-3, age 50+
    110900001 /day, 120100004 /day, 330400001, C0304010010001, 250101015, X12012
stroke | ischaemic stroke | stay 8-14, age 45+
    *ward, 120100002 /day, 210300001 1-2, 210400001 p70, X14008 3-6 /day, X03001 14-28,
    X03004 14-28, Z01006 1-3 p30, 340200001 3-8, 480000001 3-8 p50, 480000013 2-5 p30,
    440000101 2-6 p30, 430000001 3-8 p40
copd | COPD exacerbation | stay 6-11, age 45+
    *ward, X06002 1-2, X06008 14-28, X04005 2 /day p50, 120800001 6-12 /day, 210300001 p50,
    310602001 p50
fracture | fracture fixation | stay 6-11, age 16+
    *ward, *surgery, C0303020010001, 210102015 2-3, 210300001 p50, Z01008 1-2 p40,
    480000011 2-4 p40
spine | lumbar disc herniation | stay 7-12, age 25+
    *ward, *surgery, 330600001, C0303030010001 p50, 210400001, 340200001 2-5
hernia | inguinal hernia repair | stay 2-4, age 18+
    *ward, *surgery, 331004001, C0309010010001
cancer_chemo | cancer chemotherapy admission | stay 3-6, age 30+
    *ward, X11001 2-4 p50, X11003 2-3 p50, X11006 p15, X11007 2 p25, 120400010 1-2,
    210300002 p60, 230600001 p10, 250404001, X11008 6-12, X12011 1-2 p25
breast | breast cancer surgery | stay 6-10, sex 2, age 30+
    *ward, *surgery, 331500001, 210103001, 250404001, C0305010010001 p30
cabg | coronary artery bypass grafting | stay 12-18, age 45+
    *ward, *surgery, 110900004 2-4, 120100001 2-3, 330803001, C0308010010001, X12011 3-6,
    X04010 4-8 p40, 220600004 1-2
ortho_fall | head injury after a fall | stay 8-14, age 16+
    *ward, *surgery, 110900004 1-3, 330201001, 210300001 2-3, X12013 2-4
cancer_targeted | HER2-positive breast cancer, targeted therapy course | stay 6-10, age 30+
    *ward, X11006 5-8, X11001 3-4, X11007 2 p40, 120400010 2-4, 230600001 p60, 210300002,
    X11008 12-18, X12011 2-4
transplant | kidney transplantation | stay 16-24, age 18-65
    *ward, *surgery, 331100002, 110900004 3-6, 120100001 3-6, C0308010010001, X08001 60-120,
    X08002 60-120, X12011 6-12, X04009 2-3 /day p60, X04010 8-16 p50, 210300002 1-2
sepsis | septic shock in intensive care | stay 8-16, age 16+
    *ward, 110900004 /day, 120100001 /day, X04009 3 /day, X04010 2 /day, X12011 /day,
    C0308010010001, 250401001 3-6, 210300001 1-3
"""
INPATIENT: tuple[Recipe, ...] = recipes(_INPATIENT, _GROUPS)

INPATIENT_BY_KEY = {r.key: r for r in INPATIENT}
EMERGENCY_INPATIENT = (
    "appendicitis",
    "pci",
    "stroke",
    "fracture",
    "pneumonia",
    "ortho_fall",
    "sepsis",
)
REFERRAL_INPATIENT = (
    "cancer_chemo",
    "cancer_targeted",
    "transplant",
    "pci",
    "cabg",
    "breast",
    "spine",
    "hip",
    "stroke",
)
COMMON_INPATIENT = (
    "pneumonia",
    "appendicitis",
    "gallstones",
    "pci",
    "hip",
    "knee",
    "caesarean",
    "turp",
    "cataract",
    "stroke",
    "copd",
    "fracture",
    "spine",
    "hernia",
)
