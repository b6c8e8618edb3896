"""The outbreak report: one offline HTML file, and the view and exports it is built from."""

from __future__ import annotations

from pathlib import Path

from wormsign.report.html import render_page
from wormsign.report.view import ViewError, build_view
from wormsign.store import Case


def write_report(case: Case, path: str | Path) -> Path:
    """Write the self-contained HTML report of the hunt saved in ``case`` to ``path``."""
    view = build_view(case, with_evidence=True)
    page = render_page(view, mode="report", title=f"wormsign report: {view['case']['name']}")
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out


__all__ = ["ViewError", "build_view", "write_report"]
