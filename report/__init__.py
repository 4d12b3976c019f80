"""The morning report (docs/report.md): output tables in, one self-contained HTML page out."""

from report.page import ReportTables, render_report

__all__ = ["ReportTables", "render_report"]
