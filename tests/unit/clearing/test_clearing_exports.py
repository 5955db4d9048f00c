from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import FUND_ORDER, EventKind, FundType
from services.clearing.domain.exports import (
    CSV_TABLES,
    FUND_NAME_ZH,
    csv_field_name,
    render_csv_files,
    render_html,
    yuan_text,
)
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


def excel_decode(data: bytes) -> str:
    """What Excel on Chinese Windows does with a CSV: UTF-8 if it starts with the UTF-8
    byte-order mark, otherwise the ANSI code page (GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig")
    return data.decode("gbk")


def _tables(statement: Statement, names: Mapping[str, str] | None = None) -> dict[str, Table]:
    """Each file read as Excel would, then as one table: field names → rows as records."""
    tables = {}
    for f in render_csv_files(statement, names):
        rows = list(csv.reader(io.StringIO(excel_decode(f.data), newline="")))
        header, *body = rows
        # One table: one header row, every row as wide as it, no blank separator rows.
        assert all(len(row) == len(header) for row in body), f.name
        fields = [csv_field_name(h) for h in header]
        assert len(set(fields)) == len(fields)
        tables[f.table] = Table(header, [dict(zip(fields, row, strict=True)) for row in body])
    return tables


@dataclass
class Table:
    header: list[str]
    records: list[dict[str, str]]


def _fen_of_yuan(text: str) -> int:
    """The yuan column read as a decimal, exactly: two places, no floats."""
    assert re.fullmatch(r"-?\d+\.\d{2}", text), text
    return int(Decimal(text) * 100)


def _check_money_columns(record: dict[str, str]) -> None:
    """Every ``…_yuan`` column equals its ``…_fen`` neighbour to the fen."""
    yuan_fields = [k for k in record if k.endswith("_yuan")]
    assert yuan_fields
    for field in yuan_fields:
        fen_field = field.removesuffix("_yuan") + "_fen"
        assert _fen_of_yuan(record[field]) == int(record[fen_field]), field


def test_csv_is_five_files_with_a_bom_named_by_statement() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    files = render_csv_files(statement, NAMES)
    assert [f.table for f in files] == list(CSV_TABLES)
    tables = ("summary", "funds", "institutions", "lines", "adjustments")
    assert [f.name for f in files] == [f"202501-450100-440100.{t}.csv" for t in tables]
    for f in files:
        assert f.data.startswith(b"\xef\xbb\xbf")
        assert f.data.count(b"\xef\xbb\xbf") == 1
        assert f.data.endswith(b"\r\n")
        assert b"\r\n\r\n" not in f.data  # no blank rows: one table


def test_csv_read_as_excel_does_shows_chinese_pool_names() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    names = {NANNING: "南宁市", GUANGZHOU: "广州市"}
    summary = render_csv_files(statement, names)[0]
    text = excel_decode(summary.data)
    assert "广州市" in text and "南宁市" in text
    # Without the BOM the same bytes come out as mojibake: the BOM is what makes it work.
    mojibake = summary.data.removeprefix(b"\xef\xbb\xbf").decode("gbk", errors="replace")
    assert "广州市" not in mojibake
    (record,) = _tables(statement, names)["summary"].records
    assert (record["insured_pool_name"], record["treatment_pool_name"]) == ("南宁市", "广州市")


def test_csv_headers_are_bilingual() -> None:
    tables = _tables(_statement(NANNING, GUANGZHOU), NAMES)
    for table in tables.values():
        for header in table.header:
            label, field = header.removesuffix(")").rsplit("(", 1)
            assert re.fullmatch(r"[a-z0-9_]+", field), header
            assert any("\u4e00" <= ch <= "\u9fff" for ch in label), header
    assert "参保地名称(insured_pool_name)" in tables["summary"].header
    assert "统筹基金（元）(hifp_yuan)" in tables["lines"].header
    assert "统筹基金（分）(hifp_fen)" in tables["lines"].header
    with pytest.raises(ValueError):
        csv_field_name("no field")


def test_csv_summary_and_funds_match_the_statement_to_the_fen() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    tables = _tables(statement, NAMES)
    (record,) = tables["summary"].records
    assert record["statement_id"] == "202501-450100-440100"
    assert (record["insured_pool_name"], record["treatment_pool_name"]) == ("南宁", "广州")
    assert (record["level"], record["level_name"]) == ("NATIONAL", "跨省")
    assert record["net_yuan"] == "1224.56"
    assert int(record["net_fen"]) == 123_456 + 1_000 - 2_000 == statement.net_fen
    assert record["sha256"] == statement.digest()
    _check_money_columns(record)

    funds = tables["funds"].records
    *by_fund, total = funds
    for record in funds:
        _check_money_columns(record)
    assert [r["fund"] for r in by_fund] == [f.fund.value for f in statement.funds]
    for r, f in zip(by_fund, statement.funds, strict=True):
        assert r["fund_name"] == FUND_NAME_ZH[f.fund]
        assert _fen_of_yuan(r["settled_yuan"]) == f.settled_fen
        assert _fen_of_yuan(r["reversed_yuan"]) == f.reversed_fen
        assert _fen_of_yuan(r["net_yuan"]) == f.net_fen
    hifp = next(r for r in by_fund if r["fund"] == "hifp")
    assert (hifp["fund_name"], hifp["settled_yuan"], hifp["reversed_yuan"]) == (
        "统筹基金",
        "1234.56",
        "-20.00",
    )
    assert (total["fund"], total["fund_name"]) == ("TOTAL", "合计")
    assert _fen_of_yuan(total["net_yuan"]) == statement.net_fen
    assert sum(_fen_of_yuan(r["net_yuan"]) for r in by_fund) == statement.net_fen
    # S1 uses two funds but is one settlement.
    assert (total["settled_count"], total["reversed_count"]) == ("1", "1")


def test_csv_lines_add_up_to_the_statement_per_fund() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    lines = _tables(statement, NAMES)["lines"].records
    assert [r["setl_id"] for r in lines] == ["R1", "S1"]  # same time: by settlement id
    assert [(r["kind"], r["kind_name"]) for r in lines] == [
        ("REVERSED", "结算撤销"),
        ("SETTLED", "结算"),
    ]
    for record in lines:
        _check_money_columns(record)
    for f in statement.funds:
        column = f"{f.fund.value}_yuan"
        assert sum(_fen_of_yuan(r[column]) for r in lines) == f.net_fen
    assert sum(_fen_of_yuan(r["total_yuan"]) for r in lines) == statement.net_fen
    s1 = next(r for r in lines if r["setl_id"] == "S1")
    assert (s1["hifp_yuan"], s1["hifp_fen"], s1["acct_yuan"], s1["maf_yuan"]) == (
        "1234.56",
        "123456",
        "10.00",
        "0.00",
    )
    assert _tables(statement)["adjustments"].records == []  # header only


def test_csv_neutralises_formula_like_text_but_not_negative_amounts() -> None:
    statement = _statement(NANNING, GUANGZHOU)
    tables = _tables(statement, {NANNING: "=HYPERLINK(1)"})
    (summary,) = tables["summary"].records
    assert summary["insured_pool_name"] == "'=HYPERLINK(1)"
    r1 = next(r for r in tables["lines"].records if r["setl_id"] == "R1")
    assert (r1["hifp_yuan"], r1["hifp_fen"]) == ("-20.00", "-2000")


def test_csv_shows_carried_adjustments() -> None:
    _, (disputed,) = split_disputed(_statement(NANNING, GUANGZHOU), {"S1"})
    adjustment = resolve_disputed_line(disputed, DisputeOutcome.REJECTED, note="upheld by centre")
    (statement,) = build_statements(FEB, [], [adjustment])
    tables = _tables(statement)
    (record,) = tables["adjustments"].records
    assert (record["origin_period"], record["setl_id"], record["outcome"]) == (
        "202501",
        "S1",
        "REJECTED",
    )
    assert record["note"] == "upheld by centre"
    assert (record["total_yuan"], int(record["total_fen"])) == ("1244.56", 124_456)
    _check_money_columns(record)
    assert tables["lines"].records == []
    (*_, total) = tables["funds"].records
    assert _fen_of_yuan(total["adjustment_yuan"]) == statement.net_fen == 124_456


def test_csv_lines_and_adjustments_add_up_to_each_fund_and_the_net() -> None:
    _, (disputed,) = split_disputed(_statement(NANNING, GUANGZHOU), {"S1"})
    adjustment = resolve_disputed_line(disputed, DisputeOutcome.REJECTED, note="")
    events = [
        make_event("F1", period=FEB, funds={FundType.HIFP: 3_333, FundType.CVLSERV: 1}),
        make_event("F2", period=FEB, funds={FundType.HIFOB: 99, FundType.MAF: 10_001}),
    ]
    (statement,) = build_statements(FEB, entries_of(events), [adjustment])
    tables = _tables(statement, NAMES)
    lines, adjustments = tables["lines"].records, tables["adjustments"].records
    *by_fund, total = tables["funds"].records
    for fund, record in zip(FUND_ORDER, by_fund, strict=True):
        column = f"{fund.value}_yuan"
        summed = sum(_fen_of_yuan(r[column]) for r in [*lines, *adjustments])
        assert summed == _fen_of_yuan(record["net_yuan"]) == int(record["net_fen"])
    (summary,) = tables["summary"].records
    assert total["net_yuan"] == summary["net_yuan"] == yuan_text(statement.net_fen)
    assert statement.net_fen == 3_333 + 1 + 99 + 10_001 + 124_456
    assert summary["net_yuan"] == "1378.90"


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (-5, "-0.05"),
        (100, "1.00"),
        (-2_000, "-20.00"),
        (123_456, "1234.56"),
        (10**17 + 1, "1000000000000000.01"),
    ],
)
def test_yuan_text_is_exact(fen: int, text: str) -> None:
    assert yuan_text(fen) == text
    assert _fen_of_yuan(text) == fen


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_yuan_text_round_trips_every_amount(fen: int) -> None:
    assert _fen_of_yuan(yuan_text(fen)) == fen


def test_every_fund_has_a_chinese_name() -> None:
    assert set(FUND_NAME_ZH) == set(FundType)
    assert FUND_NAME_ZH[FundType.HIFP] == "统筹基金"
    assert FUND_NAME_ZH[FundType.ACCT] == "个人账户"


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
    assert "hifp 统筹基金" in page and "acct 个人账户" in page  # funds by their Chinese names


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
        assert render_csv_files(one, NAMES) == render_csv_files(other, NAMES)
        if one.level is ClearingLevel.NATIONAL:
            assert render_html(one, matrix, NAMES) == render_html(other, matrix, NAMES)
