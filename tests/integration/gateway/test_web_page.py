"""The web filing page in a real browser (Debian's chromium + chromium-driver, driven by
Selenium), against the real gateway and filing service: sign in, file a temporary trip,
see it listed, see the field error of an end date before the start, try a change the
service refuses (two less common violations, shown in the server's Chinese), change the
destination, cancel it.

Selenium Manager downloads nothing: the driver is /usr/bin/chromedriver, given
explicitly, and SE_OFFLINE is set. scripts/setup.sh installs chromium when missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.pb.crossclear.filing.v1 import filing_pb2

from ..filing.support import NANNING, Api, today
from .conftest import Http

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WINDOW = (1280, 1000)
WAIT_S = 15
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(
    not CHROMEDRIVER.exists() or not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)",
)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert len(data) > 2_000, f"{path.name}: {len(data)} bytes, an empty page?"
    return width, height


def _screenshots(folder: Path) -> dict[str, tuple[int, int]]:
    return {path.stem: _png_size(path) for path in sorted(folder.glob("*.png"))}


def _drive(base: str, psn_no: str, shots: Path) -> dict[str, Any]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    seen: dict[str, Any] = {}
    try:
        wait = WebDriverWait(driver, WAIT_S)

        def shot(name: str) -> None:
            driver.save_screenshot(str(shots / f"{name}.png"))

        def set_value(element_id: str, value: str) -> None:
            element = driver.find_element(By.ID, element_id)
            driver.execute_script("arguments[0].value = arguments[1];", element, value)

        def rows() -> list[dict[str, Any]]:
            """The table as the page shows it, read in one go (it is redrawn on refresh)."""
            found: list[dict[str, Any]] = driver.execute_script(
                "return Array.from(document.querySelectorAll('#filings tbody tr'), r => ({"
                "id: r.dataset.filingId, status: r.dataset.status,"
                "cells: Array.from(r.cells, c => c.textContent)}));"
            )
            return found

        def violations() -> list[dict[str, str]]:
            """The listed field violations, read in one go (the list is redrawn)."""
            found: list[dict[str, str]] = driver.execute_script(
                "return Array.from(document.querySelectorAll('#errors li.violation'),"
                " li => ({field: li.dataset.field, text: li.textContent}));"
            )
            return found

        driver.get(base + "/")
        wait.until(ec.visibility_of_element_located((By.ID, "psn"))).send_keys(psn_no)
        shot("1-sign-in")
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ec.visibility_of_element_located((By.ID, "main")))
        assert driver.find_element(By.ID, "who").text == psn_no
        assert rows() == []

        # A temporary trip to Guangzhou, from today, for three days.
        set_value("pool", "440100")
        set_value("start", today().isoformat())
        set_value("end", (today() + timedelta(days=3)).isoformat())
        driver.find_element(By.ID, "commit").click()
        driver.find_element(By.ID, "submit").click()
        wait.until(lambda d: len(rows()) == 1)
        row = rows()[0]
        seen["filing_id"] = row["id"]
        seen["listed"] = row["cells"]
        shot("2-filed")

        # An end date before the start: the server's field violation, in Chinese.
        set_value("start", (today() + timedelta(days=5)).isoformat())
        set_value("end", today().isoformat())
        driver.find_element(By.ID, "submit").click()
        errors = wait.until(ec.visibility_of_element_located((By.ID, "errors")))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#errors li.violation"))
        seen["error_text"] = errors.text
        seen["error_fields"] = [
            li.get_attribute("data-field")
            for li in driver.find_elements(By.CSS_SELECTOR, "#errors li.violation")
        ]
        shot("3-field-error")
        assert len(rows()) == 1, "a refused filing is not listed"

        # A change the service refuses: the same destination and an end date in the past.
        driver.find_element(By.CSS_SELECTOR, "#filings tbody tr button.change").click()
        wait.until(ec.visibility_of_element_located((By.ID, "change-box")))
        set_value("change-pool", "440100")
        set_value("change-end", (today() - timedelta(days=1)).isoformat())
        driver.find_element(By.ID, "change-submit").click()
        wait.until(lambda d: {v["field"] for v in violations()} == {"destination", "end_date"})
        seen["change_errors"] = [v["text"] for v in violations()]
        shot("4-change-refused")

        # Change the destination to Shenzhen, keeping the dates.
        set_value("change-pool", "440300")
        set_value("change-end", "")
        driver.find_element(By.ID, "change-submit").click()
        wait.until(lambda d: [r["cells"][2] for r in rows()] == ["440300"])
        seen["changed"] = rows()[0]
        seen["change_notice"] = driver.find_element(By.ID, "notice").text
        seen["change_box_hidden"] = not driver.find_element(By.ID, "change-box").is_displayed()
        shot("5-changed")

        # Cancel the trip.
        driver.find_element(By.CSS_SELECTOR, "#filings tbody tr button.cancel").click()
        wait.until(lambda d: [r["status"] for r in rows()] == ["FILING_STATUS_CANCELLED"])
        seen["cancelled"] = rows()[0]["cells"]
        seen["notice"] = driver.find_element(By.ID, "notice").text
        shot("6-cancelled")
        seen["viewport"] = driver.execute_script(
            "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio];"
        )
    finally:
        driver.quit()
    return seen


async def test_a_person_files_sees_field_errors_changes_and_cancels_in_the_browser(
    http: Http, api: Api, tmp_path: Path
) -> None:
    person = await api.new_person(NANNING)
    # Selenium blocks: drive it from a thread while this loop serves gateway and service.
    seen = await asyncio.to_thread(_drive, http.base, person.psn_no, tmp_path)

    assert seen["filing_id"].startswith(f"F{NANNING}")
    category, place, start, end, status = seen["listed"][1:6]
    assert (category, place, start, status) == (
        "临时外出就医",
        "440100",
        today().isoformat(),
        "有效",
    )
    # The policy may extend a temporary filing's validity beyond the date asked for.
    assert end >= (today() + timedelta(days=3)).isoformat(), seen["listed"]
    assert "end_date" in seen["error_fields"], seen
    assert "请求参数有误" in seen["error_text"], seen
    assert "结束日期：早于开始日期" in seen["error_text"], seen
    # Less common violations, in the server's Chinese (zh-CN localized_message).
    assert seen["change_errors"] == [
        "就医地：与备案现有的就医地相同，无需变更",
        "结束日期：已是过去的日期；如不再需要，请取消备案",
    ], seen
    assert seen["changed"]["id"] == seen["filing_id"], seen
    assert seen["changed"]["status"] == "FILING_STATUS_ACTIVE"
    assert seen["change_notice"] == f"备案已变更：{seen['filing_id']}"
    assert seen["change_box_hidden"]
    assert seen["cancelled"][0] == seen["filing_id"] and seen["cancelled"][5] == "已取消"
    assert seen["notice"] == f"备案已取消：{seen['filing_id']}"

    # The filing exists server-side as the page showed it, cancelled by the person.
    request = filing_pb2.GetFilingRequest(filing_id=seen["filing_id"])
    token = api.tokens.person("channel-web", person.psn_no)
    reply = await api.call("GetFiling", request, "channel-web", token=token)
    assert reply.filing.status == filing_pb2.FILING_STATUS_CANCELLED
    assert reply.filing.destination.pool_code == "440300"

    shots = await asyncio.to_thread(_screenshots, tmp_path)
    assert list(shots) == [
        "1-sign-in",
        "2-filed",
        "3-field-error",
        "4-change-refused",
        "5-changed",
        "6-cancelled",
    ]
    expected = tuple(int(v) for v in seen["viewport"])
    for name, size in shots.items():
        assert size == expected, name
