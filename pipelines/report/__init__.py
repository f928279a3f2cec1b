"""The nightly run report: a self-contained HTML page (inline CSS and SVG, nothing fetched)."""

from pipelines.report.business import business_view
from pipelines.report.context import ReportContext
from pipelines.report.render import SECTION_TITLES, render_report

__all__ = ["SECTION_TITLES", "ReportContext", "business_view", "render_report"]
