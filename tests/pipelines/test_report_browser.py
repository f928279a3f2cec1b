"""Open the rendered report in headless Chromium (no browser download) and check the plots are drawn."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from pipelines.report import SECTION_TITLES, render_report
from tests.pipelines.test_report_business import tiny  # noqa: F401  (fixture)
from tests.pipelines.test_report_render import FULL_CHARTS, full_context

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (1100, 390)  # a desktop window and a phone


@pytest.mark.browser
def test_report_renders_its_charts_in_chromium(tiny: dict[str, pl.DataFrame], tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(full_context(tiny)), encoding="utf-8")
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CIRCLEBUY_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("request", lambda r: requests.append(r.url))
                page.goto(page_file.as_uri())
                assert page.locator("h2").all_inner_texts() == list(SECTION_TITLES)
                charts = page.locator("svg.chart")
                assert charts.count() == FULL_CHARTS
                for i in range(FULL_CHARTS):
                    box = charts.nth(i).bounding_box()
                    assert box is not None and box["width"] > 150 and box["height"] > 30, (width, i, box)
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, i, box)  # fits
                    assert charts.nth(i).locator("rect, polyline").count() > 0  # bars or a curve drawn
                # the page itself does not scroll sideways (wide tables scroll in their own box)
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                shot = tmp_path / f"report-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                data = shot.read_bytes()
                assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
                if os.environ.get("CIRCLEBUY_REPORT_SHOTS"):  # keep the screenshots to look at
                    keep = Path(os.environ["CIRCLEBUY_REPORT_SHOTS"])
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / shot.name).write_bytes(data)
                page.close()
        finally:
            browser.close()
    # nothing but the file itself was fetched: no fonts, scripts, images or CDN
    assert set(requests) == {page_file.as_uri()}
