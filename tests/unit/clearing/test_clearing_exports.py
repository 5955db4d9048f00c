from __future__ import annotations

import csv
import io

import pytest

from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.exports import render_csv, render_html
from services.clearing.domain.lines import DisputeOutcome
from services.clearing.domain.netting import net_period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import Statement, build_statements
from shared.errors import InvalidArgument

from .clearing_factories import (
    FEB,
    GUANGZHOU,
    JAN,
    LIUZHOU,
    NAMES,
    NANNING,
    entries_of,
    make_event,
)


def _month() -> tuple[Statement, ...]:
    events = [
        make_event("S1", funds={FundType.HIFP: 123_456, FundType.ACCT: 1_000}),
        make_event("R1", kind=EventKind.REVERSED, funds={FundType.HIFP: 2_000}),
        make_event("S2", insured=GUANGZHOU, treatment=NANNING, funds={FundType.HIFMI: 50_000}),
        make_event("S3", insured=NANNING, treatment=LIUZHOU, funds={FundType.MAF: 700}),
    ]
    return build_statements(JAN, entries_of(events))


def _statement(insured: str, treatment: str) -> Statement:
    (statement,) = [s for s in _month() if s.pair == (insured, treatment)]
    return statement


def _sections(text: str) -> list[list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    sections: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            sections[-1].append(row)
        else:
            sections.append([])
    return sections


def test_csv_has_header_totals_lines_and_adjustments() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    header, funds, lines, adjustments = _sections(render_csv(statement, NAMES))
    record = dict(zip(*header, strict=True))
    assert record["statement_id"] == "202501-450100-440100"
    assert (record["insured_pool_name"], record["treatment_pool_name"]) == ("南宁", "广州")
    assert int(record["net_fen"]) == 123_456 + 1_000 - 2_000
    assert record["sha256"] == statement.digest()
    total = dict(zip(funds[0], funds[-1], strict=True))
    assert (total["fund"], int(total["net_fen"])) == ("TOTAL", statement.net_fen)
    # S1 uses two funds but is one settlement.
    assert (total["settled_count"], total["reversed_count"]) == ("1", "1")
    hifp = dict(zip(funds[0], funds[1], strict=True))
    assert (hifp["settled_fen"], hifp["reversed_fen"], hifp["reversed_count"]) == (
        "123456",
        "-2000",
        "1",
    )
    assert [row[0] for row in lines[1:]] == ["R1", "S1"]  # same time: by settlement id
    assert adjustments == [adjustments[0]]  # header only


def test_csv_neutralises_formula_like_text() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    text = render_csv(statement, {NANNING: "=HYPERLINK(1)"})
    assert "'=HYPERLINK(1)" in text


def test_csv_shows_carried_adjustments() -> None:
    _, (disputed,) = split_disputed(_statement(NANNING, GUANGZHOU), {"S1"})
    adjustment = resolve_disputed_line(disputed, DisputeOutcome.REJECTED, note="upheld by centre")
    (statement,) = build_statements(FEB, [], [adjustment])
    *_, adjustments = _sections(render_csv(statement))
    record = dict(zip(adjustments[0], adjustments[1], strict=True))
    assert (record["origin_period"], record["setl_id"], record["outcome"]) == (
        "202501",
        "S1",
        "REJECTED",
    )
    assert int(record["total_fen"]) == 124_456


def test_html_is_self_contained_escaped_and_in_yuan() -> None:
    statements = _month()
    statement = _statement(NANNING, GUANGZHOU)
    matrix = net_period(JAN, statements).matrix_for(ClearingLevel.NATIONAL, "NATIONAL")
    names = {**NAMES, NANNING: "<script>alert(1)</script>"}
    page = render_html(statement, matrix, names)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<style>" in page and "http" not in page
    assert "1,234.56" in page  # hifp settled, yuan
    assert "-20.00" in page  # the reversal, shown apart
    assert "45 广西" in page and "44 广东" in page  # national matrix parties are provinces


def test_html_matrix_rows_pay_columns_receive() -> None:
    statements = _month()
    statement = _statement(NANNING, LIUZHOU)
    matrix = net_period(JAN, statements).matrix_for(ClearingLevel.PROVINCIAL, "45")
    page = render_html(statement, matrix, NAMES)
    row = page.split("<tr><td>450100 南宁</td>")[1].split("</tr>")[0]
    assert row.count("7.00") == 2  # owed to Liuzhou, and Nanning's total payable


def test_html_refuses_matrix_of_another_level() -> None:
    statements = _month()
    national = net_period(JAN, statements).matrix_for(ClearingLevel.NATIONAL, "NATIONAL")
    with pytest.raises(InvalidArgument):
        render_html(_statement(NANNING, LIUZHOU), national)


def test_exports_are_deterministic() -> None:
    first, second = _month(), _month()
    matrix = net_period(JAN, first).national.matrix
    for one, other in zip(first, second, strict=True):
        assert render_csv(one, NAMES) == render_csv(other, NAMES)
        if one.level is ClearingLevel.NATIONAL:
            assert render_html(one, matrix, NAMES) == render_html(other, matrix, NAMES)
