"""One self-contained HTML page (report or dashboard): inlined style, libraries, app and data."""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

from wormsign.report.view import settings
from wormsign.web import AssetMissing, asset

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(value: Any) -> str:
    """JSON text safe inside a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` become ``\\u`` escapes, so no ``</script>`` or ``<!--`` can end or
    change the block; U+2028/2029 are escaped too. ``JSON.parse`` reads it back unchanged.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    for ch, esc in _JSON_ESCAPES.items():
        text = text.replace(ch, esc)
    return text


GRAPH_LIBRARY = "vendor/cytoscape.min.js"
#: The app's sources, joined in this order inside one function scope (see web/app.js).
APP_FILES = ("dom.js", "evidence.js", "layout.js", "graph.js", "sections.js", "app.js")


def _app_script() -> str:
    body = "\n".join(_inline_script(name) for name in APP_FILES)
    return '(function () {\n"use strict";\n' + body + "\n})();"


def _inline_script(name: str) -> str:
    code = asset(name)
    lowered = code.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name} cannot be inlined: it contains </script or <!--")
    return code


def graph_library() -> str:
    """The bundled graph library, or nothing when it was not built (the page then says so)."""
    try:
        return _inline_script(GRAPH_LIBRARY)
    except AssetMissing:
        return ""


def graph_settings() -> dict[str, Any]:
    """The graph's tunables (settings.yaml ``graph``), as the page reads them: numbers only."""
    return {k: float(v) for k, v in (settings().get("graph") or {}).items() if isinstance(v, int | float)}


def csp(nonce: str, *, api: bool) -> str:
    """Content-Security-Policy: only the page's own scripts run; the report connects nowhere."""
    connect = "'self'" if api else "'none'"
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        f"img-src data:; connect-src {connect}; base-uri 'none'; form-action 'none'"
    )


def render_page(data: dict[str, Any] | None, *, mode: str, title: str, nonce: str | None = None) -> str:
    """The page: ``mode`` is ``report`` (data embedded) or ``api`` (the dashboard fetches it)."""
    nonce = nonce or secrets.token_urlsafe(18)
    config: dict[str, Any] = {"mode": mode, "graph": graph_settings()}
    parts = {
        "@@CSP@@": csp(nonce, api=mode == "api"),
        "@@TITLE@@": "",
        "@@STYLE@@": asset("app.css"),
        "@@CONFIG@@": script_json(config),
        "@@DATA@@": script_json(data),
        "@@NONCE@@": nonce,
        "@@LIB@@": graph_library(),
        "@@APP@@": _app_script(),
    }
    parts["@@TITLE@@"] = html.escape(title)
    page = asset("page.html")
    # One pass over the template's markers, so that no substituted text is itself substituted.
    out: list[str] = []
    rest = page
    while "@@" in rest:
        before, _, after = rest.partition("@@")
        name, sep, tail = after.partition("@@")
        key = f"@@{name}@@"
        if not sep or key not in parts:
            out.append(before + "@@")
            rest = after
            continue
        out.append(before + parts[key])
        rest = tail
    out.append(rest)
    return "".join(out)
