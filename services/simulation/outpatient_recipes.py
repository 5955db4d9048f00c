"""Outpatient fee-line recipes (**modeled**): ordinary visits (普通门诊) and chronic/special
disease visits (门诊慢特病), by disease code."""

from __future__ import annotations

from services.simulation.recipe_parts import P, Recipe

_CONSULT = P("110200001")
_CONSULT_SENIOR = P("110200002", p=30)

# -- ordinary outpatient (普通门诊) ------------------------------------------------------

OUTPATIENT: tuple[Recipe, ...] = (
    Recipe(
        "resp",
        "upper respiratory infection",
        (
            _CONSULT,
            P("250101015", p=70),
            P("250403001", p=40),
            P("X04001", 12, 24, p=45),
            P("X04008", 3, 6, p=30),
            P("X12001", 6, 12, p=50),
            P("Z01003", 12, 24, p=45),
            P("Z01012", 6, 10, p=30),
            P("X06004", 1, 1, p=25),
            P("X12005", 20, 40, p=15),
        ),
    ),
    Recipe(
        "gastro",
        "gastritis or enteritis",
        (
            _CONSULT,
            _CONSULT_SENIOR,
            P("X05001", 14, 28, p=60),
            P("X05004", 6, 9, p=40),
            P("X05005", 12, 24, p=40),
            P("X05003", 12, 24, p=25),
            P("Z01013", 6, 10, p=35),
            P("220301001", p=25),
            P("310901001", p=8),
        ),
    ),
    Recipe(
        "msk",
        "neck, back or joint pain",
        (
            _CONSULT,
            P("X10007", 14, 28, p=40),
            P("X10006", 14, 28, p=30),
            P("340200001", 2, 5, p=35),
            P("430000001", 2, 6, p=35),
            P("440000002", 2, 5, p=30),
            P("450000006", 1, 4, p=20),
            # Zhuang/Yao medicine techniques, paid in Guangxi (壮瑶医技法)
            P("480000001", 2, 6, p=40),
            P("480000002", 1, 4, p=25),
            P("480000008", 2, 4, p=20),
            P("480000015", 1, 3, p=15),
            P("Z45003", 10, 20, p=20),
            # Lingnan techniques, paid in Guangdong
            P("440000101", 1, 4, p=30),
            P("440000102", 1, 3, p=20),
            P("Z01008", 1, 1, p=20),
            P("210102015", p=25),
        ),
    ),
    Recipe(
        "bp_check",
        "blood pressure and lipids review",
        (
            _CONSULT,
            P("X02001", 14, 28, p=60),
            P("X03001", 14, 28, p=40),
            P("X03003", 30, 30, p=40),
            P("250303001", p=50),
            P("250302001", p=50),
            P("310701001", p=40),
            P("Z01001", 1, 1, p=20),
            P("X12016", 30, 60, p=15),
        ),
    ),
    Recipe(
        "injury",
        "minor injury",
        (
            P("110200005"),
            P("120500001", 1, 3),
            P("Z01007", 10, 20, p=50),
            P("X12002", 10, 20, p=40),
            P("C0101030020001", 1, 2, p=40),
            P("C0101030010001", 5, 10, p=50),
            P("210102015", p=30),
            P("Z45001", 12, 24, p=20),
            P("C0310010010001", 1, 2, p=10),
        ),
    ),
    Recipe(
        "women",
        "gynaecology",
        (
            _CONSULT,
            P("270300003", p=40),
            P("210103001", p=20),
            P("Z01011", 18, 36, p=40),
            P("X13004", 21, 28, p=20),
        ),
        sex="2",
        min_age=18,
    ),
    Recipe(
        "men",
        "urology",
        (
            _CONSULT,
            P("250404010", p=60),
            P("X13001", 14, 28, p=60),
            P("X13002", 14, 28, p=30),
            P("220301001", p=30),
        ),
        sex="1",
        min_age=45,
    ),
    Recipe(
        "child",
        "paediatric fever",
        (
            _CONSULT,
            P("250101015", p=80),
            P("X12003", 1, 1, p=60),
            P("X04015", 1, 2, p=40),
            P("X12004", 6, 12, p=40),
            P("X06006", 7, 14, p=20),
            P("480000017", 1, 2, p=15),
        ),
        max_age=12,
    ),
    Recipe(
        "dental",
        "dental care",
        (_CONSULT, P("310512001"), P("X12012", 1, 1, p=40)),
    ),
    Recipe(
        "imaging",
        "diagnostic imaging",
        (
            _CONSULT_SENIOR,
            _CONSULT,
            P("210300001", 1, 2, p=50),
            P("210400001", p=30),
            P("220301001", p=40),
            P("250404001", p=20),
        ),
    ),
)

# -- chronic/special outpatient (门诊慢特病), by disease code ----------------------------

CHRONIC: dict[str, Recipe] = {
    "M03900": Recipe(
        "M03900",
        "hypertension",
        (
            _CONSULT,
            P("X02001", 28, 56),
            P("X02003", 28, 28, p=50),
            P("X02004", 28, 28, p=30),
            P("X02013", 28, 28, p=20),
            P("X02010", 28, 28, p=20),
            P("310701001", p=30),
            P("250310001", p=20),
        ),
    ),
    "M01600": Recipe(
        "M01600",
        "diabetes",
        (
            _CONSULT,
            P("X01001", 112, 168),
            P("X01005", 2, 4, p=40),
            P("C0307010010001", 30, 60, p=40),
            P("X01010", 1, 2, p=10),
            P("X01009", 28, 28, p=25),
            P("250302003", p=40),
            P("250302001", p=60),
            P("C0307010020001", 50, 100, p=30),
        ),
    ),
    "M00503": Recipe(
        "M00503",
        "outpatient radio/chemotherapy",
        (
            P("110200003"),
            P("X11003", 2, 3, p=40),
            P("X11011", 1, 2, p=20),
            P("X11002", 84, 84, p=25),
            P("X11005", 28, 28, p=20),
            P("X11001", 2, 3, p=15),
            P("120400010", p=60),
            P("240300001", 3, 5, p=25),
            P("X11008", 6, 12, p=50),
            P("250101015"),
            P("250404001", p=30),
            P("X12008", 1, 2, p=60),
        ),
    ),
    "M07803": Recipe(
        "M07803",
        "uraemia haemodialysis",
        (
            P("311000006"),
            P("C0306010010001"),
            P("C0306010020001"),
            P("X07001", 1, 1, p=40),
            P("X07002", 1, 1, p=20),
            P("X07003", 42, 42, p=15),
            P("250307001", p=20),
        ),
    ),
    "M07804": Recipe(
        "M07804",
        "uraemia peritoneal dialysis",
        (
            P("311000013", 28, 31),
            P("X07001", 1, 1, p=40),
            P("X07002", 1, 1, p=20),
            P("X07003", 42, 42, p=15),
            P("250307001", p=20),
        ),
    ),
    "M08300": Recipe(
        "M08300",
        "anti-rejection after transplant",
        (
            _CONSULT_SENIOR,
            _CONSULT,
            P("X08001", 60, 120),
            P("X08002", 60, 120, p=70),
            P("250307001"),
            P("250101015"),
            P("Z01020", 30, 60, p=30),
        ),
    ),
    "M05300": Recipe(
        "M05300",
        "COPD",
        (
            _CONSULT,
            P("X06001", 1, 1),
            P("X06002", 1, 1, p=50),
            P("X06008", 28, 56, p=30),
            P("310602001", p=20),
        ),
    ),
    "M06900": Recipe(
        "M06900",
        "rheumatoid arthritis",
        (
            _CONSULT,
            P("X10001", 12, 16),
            P("X10002", 28, 28, p=50),
            P("X10004", 1, 2, p=25),
            P("250403001", p=60),
        ),
    ),
    "M04600": Recipe(
        "M04600",
        "coronary heart disease",
        (
            _CONSULT,
            P("X03001", 28, 28),
            P("X03004", 28, 28, p=60),
            P("X03003", 30, 30, p=70),
            P("X03006", 28, 28, p=40),
            P("Z01017", 84, 84, p=25),
            P("310701001", p=40),
        ),
    ),
    "M00201": Recipe(
        "M00201",
        "viral hepatitis",
        (
            _CONSULT,
            P("X09001", 28, 90),
            P("X09002", 28, 28, p=20),
            P("250305001"),
            P("250403055", p=30),
        ),
    ),
    "M07200": Recipe(
        "M07200",
        "ankylosing spondylitis",
        (
            _CONSULT,
            P("X10006", 28, 56),
            P("X10008", 1, 2, p=30),
            P("250403001", p=50),
        ),
    ),
}
