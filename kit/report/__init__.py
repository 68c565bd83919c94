"""The HTML report: one self-contained page rendered from results.json alone."""

from kit.report.render import REPORT_NAME, render_html, write_report

__all__ = ["REPORT_NAME", "render_html", "write_report"]
