"""The HTML report: one offline file whose embedded data reads back exactly, hostile text included."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from outbreak_fixture import DIGEST, HOSTILE_CMD, HOSTILE_HOST, HOSTILE_RAW_MARK, HOSTILE_USER

from wormsign.report import ViewError, build_view, write_report
from wormsign.report.html import script_json
from wormsign.store import Case

DATA = re.compile(r'<script type="application/json" id="wormsign-data">(.*?)</script>', re.S)


def _report(path: Path, out: Path) -> str:
    with Case.open(str(path), read_only=True) as case:
        write_report(case, out)
    return out.read_text("utf-8")


def test_script_json_cannot_close_or_comment_the_block() -> None:
    value = {"a": "</script><script>alert(1)</script>", "b": "<!-- x -->", "c": "\u2028\u2029", "d": "&amp;"}
    text = script_json(value)
    for bad in ("</script", "<!--", "\u2028", "\u2029", "<", ">"):
        assert bad not in text
    assert json.loads(text) == value


def test_report_is_one_offline_file(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = outbreak
    page = _report(path, tmp_path / "r.html")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page, re.I)
    assert "connect-src 'none'" in page  # the report can fetch nothing
    # Exactly the page's own script blocks: two JSON blocks, the library and the app.
    assert page.lower().count("<script") == 4
    assert page.lower().count("</script") == 4


def test_embedded_data_reads_back_with_hostile_text_intact(
    outbreak: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, doc = outbreak
    page = _report(path, tmp_path / "r.html")
    assert HOSTILE_USER not in page and HOSTILE_HOST not in page and HOSTILE_RAW_MARK not in page
    m = DATA.search(page)
    assert m is not None
    view = json.loads(m.group(1))
    assert view["incidents"] == doc["incidents"]
    inc = view["incidents"][0]
    assert {h["host"] for h in inc["hosts"]} >= {HOSTILE_HOST}
    assert inc["initial_access"][0]["command_line"] == HOSTILE_CMD
    # Every cited evidence event is embedded, with its original record.
    for edge in inc["edges"]:
        for ref in edge["evidence"]:
            assert view["evidence"][ref]["host"] == edge["target"]
    first = view["evidence"][f"{DIGEST}:1"]
    assert json.loads(first["raw"])["Note"] == HOSTILE_RAW_MARK
    assert first["user.name"] == HOSTILE_USER
    assert view["alerts"][0]["id"] == "ALR-000001"
    assert view["attack"]["T1570"] == "Lateral Tool Transfer"


def test_view_counts(outbreak: tuple[Path, dict[str, Any]]) -> None:
    path, _ = outbreak
    with Case.open(str(path), read_only=True) as case:
        view = build_view(case)
    assert view["case"]["events"] == 41
    assert view["case"]["first"] == "2026-03-02T09:00:00.000000Z"  # results.TIME_FORMAT
    assert (
        len(view["evidence"]) == 10
    )  # 1 initial access + 4 edges x 2 + 1 lockout (the alert cites edge events)


def test_case_without_hunt_is_a_clear_error(case_path: Path, tmp_path: Path) -> None:
    Case.open(str(case_path)).close()
    with Case.open(str(case_path), read_only=True) as case, pytest.raises(ViewError, match="no hunt result"):
        write_report(case, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_unknown_major_version_is_refused(outbreak: tuple[Path, dict[str, Any]]) -> None:
    path, doc = outbreak
    with Case.open(str(path)) as case:
        case.set_meta("hunt", {**doc, "format": "wormsign.incidents/2"})
        with pytest.raises(ViewError, match="incidents/2"):
            build_view(case)
