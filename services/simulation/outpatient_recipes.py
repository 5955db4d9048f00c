"""Outpatient fee-line recipes (**modeled**): ordinary visits (普通门诊) and chronic/special
disease visits (门诊慢特病), by disease code. The tables are written as ``recipes`` reads
them: a ``key | label | conditions`` line, then the parts."""

from __future__ import annotations

from services.simulation.recipe_parts import Recipe, parts, recipes

_GROUPS = {"consult": parts("110200001"), "senior": parts("110200002 p30")}

# -- ordinary outpatient (普通门诊) ------------------------------------------------------

_OUTPATIENT = """
resp | upper respiratory infection
    *consult, 250101015 p70, 250403001 p40, X04001 12-24 p45, X04008 3-6 p30, X12001 6-12 p50,
    Z01003 12-24 p45, Z01012 6-10 p30, X06004 p25, X12005 20-40 p15
gastro | gastritis or enteritis
    *consult, *senior, X05001 14-28 p60, X05004 6-9 p40, X05005 12-24 p40, X05003 12-24 p25,
    Z01013 6-10 p35, 220301001 p25, 310901001 p8
msk | neck, back or joint pain
    *consult, X10007 14-28 p40, X10006 14-28 p30, 340200001 2-5 p35, 430000001 2-6 p35,
    440000002 2-5 p30, 450000006 1-4 p20,
    # Zhuang/Yao medicine techniques, paid in Guangxi (壮瑶医技法)
    480000001 2-6 p40, 480000002 1-4 p25, 480000008 2-4 p20, 480000015 1-3 p15, Z45003 10-20 p20,
    # Lingnan techniques, paid in Guangdong
    440000101 1-4 p30, 440000102 1-3 p20, Z01008 p20, 210102015 p25
bp_check | blood pressure and lipids review
    *consult, X02001 14-28 p60, X03001 14-28 p40, X03003 30 p40, 250303001 p50, 250302001 p50,
    310701001 p40, Z01001 p20, X12016 30-60 p15
injury | minor injury
    110200005, 120500001 1-3, Z01007 10-20 p50, X12002 10-20 p40, C0101030020001 1-2 p40,
    C0101030010001 5-10 p50, 210102015 p30, Z45001 12-24 p20, C0310010010001 1-2 p10
women | gynaecology | sex 2, age 18+
    *consult, 270300003 p40, 210103001 p20, Z01011 18-36 p40, X13004 21-28 p20
men | urology | sex 1, age 45+
    *consult, 250404010 p60, X13001 14-28 p60, X13002 14-28 p30, 220301001 p30
child | paediatric fever | age 0-12
    *consult, 250101015 p80, X12003 p60, X04015 1-2 p40, X12004 6-12 p40, X06006 7-14 p20,
    480000017 1-2 p15
dental | dental care
    *consult, 310512001, X12012 p40
imaging | diagnostic imaging
    *senior, *consult, 210300001 1-2 p50, 210400001 p30, 220301001 p40, 250404001 p20
"""
OUTPATIENT: tuple[Recipe, ...] = recipes(_OUTPATIENT, _GROUPS)

# -- chronic/special outpatient (门诊慢特病), by disease code ----------------------------

_CHRONIC = """
M03900 | hypertension
    *consult, X02001 28-56, X02003 28 p50, X02004 28 p30, X02013 28 p20, X02010 28 p20,
    310701001 p30, 250310001 p20
M01600 | diabetes
    *consult, X01001 112-168, X01005 2-4 p40, C0307010010001 30-60 p40, X01010 1-2 p10,
    X01009 28 p25, 250302003 p40, 250302001 p60, C0307010020001 50-100 p30
M00503 | outpatient radio/chemotherapy
    110200003, X11003 2-3 p40, X11011 1-2 p20, X11002 84 p25, X11005 28 p20, X11001 2-3 p15,
    120400010 p60, 240300001 3-5 p25, X11008 6-12 p50, 250101015, 250404001 p30,
    X12008 1-2 p60
M07803 | uraemia haemodialysis
    311000006, C0306010010001, C0306010020001, X07001 p40, X07002 p20, X07003 42 p15,
    250307001 p20
M07804 | uraemia peritoneal dialysis
    311000013 28-31, X07001 p40, X07002 p20, X07003 42 p15, 250307001 p20
M08300 | anti-rejection after transplant
    *senior, *consult, X08001 60-120, X08002 60-120 p70, 250307001, 250101015,
    Z01020 30-60 p30
M05300 | COPD
    *consult, X06001, X06002 p50, X06008 28-56 p30, 310602001 p20
M06900 | rheumatoid arthritis
    *consult, X10001 12-16, X10002 28 p50, X10004 1-2 p25, 250403001 p60
M04600 | coronary heart disease
    *consult, X03001 28, X03004 28 p60, X03003 30 p70, X03006 28 p40, Z01017 84 p25,
    310701001 p40
M00201 | viral hepatitis
    *consult, X09001 28-90, X09002 28 p20, 250305001, 250403055 p30
M07200 | ankylosing spondylitis
    *consult, X10006 28-56, X10008 1-2 p30, 250403001 p50
"""
CHRONIC: dict[str, Recipe] = {r.key: r for r in recipes(_CHRONIC, _GROUPS)}
