"""The written recipe tables read back as the recipes they describe."""

from __future__ import annotations

import pytest

from services.simulation.recipe_parts import Part, Recipe, parts, recipes


def test_parts_read_quantities_days_and_presence() -> None:
    assert parts("A1, B2 3, C3 2-5 /day p40, D4 p7") == (
        Part("A1"),
        Part("B2", 3, 3),
        Part("C3", 2, 5, per_day=True, p_pct=40),
        Part("D4", p_pct=7),
    )


def test_recipes_read_conditions_groups_and_comments() -> None:
    table = """
first | a plain visit
    *base, X1 1-2,
    # a comment between parts
    X2 p50
second | with conditions, labelled | stay 3-5, sex 2, age 20-42
    X3
third | an age floor | age 16+
    X4
"""
    got = recipes(table, {"base": parts("B0, B1 /day")})
    assert got == (
        Recipe(
            "first",
            "a plain visit",
            (Part("B0"), Part("B1", per_day=True), Part("X1", 1, 2), Part("X2", p_pct=50)),
        ),
        Recipe(
            "second",
            "with conditions, labelled",
            (Part("X3"),),
            los_days=(3, 5),
            sex="2",
            min_age=20,
            max_age=42,
        ),
        Recipe("third", "an age floor", (Part("X4"),), min_age=16),
    )


@pytest.mark.parametrize(
    "table",
    [
        "    X1\n",
        "k | label | colour red\n    X1\n",
        "k | label | a | b\n    X1\n",
        "k | l\n    X1 lots\n",
    ],
)
def test_recipes_refuse_what_they_cannot_read(table: str) -> None:
    with pytest.raises(ValueError):
        recipes(table)
