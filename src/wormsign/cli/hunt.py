"""``wormsign hunt``: ingest (optional), run the detections, print the outbreak, write the files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from wormsign.cli.app import EXIT_ERROR, app, console, err
from wormsign.store import Case


def _demo_paths() -> list[Path]:
    try:
        from wormsign import demo
    except ImportError:
        demo = None  # type: ignore[assignment]
    if demo is None or not hasattr(demo, "path"):
        err.print("[red]error:[/] the bundled demo outbreak is not installed (wormsign.demo.path())")
        raise typer.Exit(EXIT_ERROR)
    return [Path(demo.logs()) if hasattr(demo, "logs") else Path(demo.path())]


def _t(v: Any) -> Text:
    """A table cell or line of attacker-written text: shown as is, never read as rich markup."""
    return Text("" if v is None else str(v))


def write_outputs(out: Path, document: dict[str, Any], alerts: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write incidents.json and alerts.ndjson into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    inc, al = out / "incidents.json", out / "alerts.ndjson"
    inc.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    with open(al, "w", encoding="utf-8") as fh:
        for a in alerts:
            fh.write(json.dumps(a, default=str) + "\n")
    return inc, al


def print_summary(document: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """The terminal summary: every outbreak in full, the other incidents in one table."""
    incs = document["incidents"]
    outbreaks = [i for i in incs if i["type"] == "outbreak"]
    console.print(f"[bold]{len(alerts):,}[/] alerts, [bold]{len(incs)}[/] incidents, "
                  f"[bold red]{len(outbreaks)}[/] outbreak(s)", highlight=False)
    for inc in outbreaks:
        console.rule(Text(f"{inc['id']} {inc['title']}", style="bold red"), characters="=")
        console.print(_t(f"patient zero: {inc['patient_zero']}   spread rate: {inc['spread_rate_per_hour']}/h   "
                         f"R: {inc['r_estimate']}   first alert: {inc['first_alert']}"), highlight=False)
        if inc["initial_access"]:
            t = Table(title="Initial access on patient zero", title_justify="left")
            for c in ("time", "parent", "process", "command line"):
                t.add_column(c, overflow="fold")
            for r in inc["initial_access"][:10]:
                t.add_row(_t(r["ts"]), _t(r.get("parent")), _t(r.get("process")), _t(str(r.get("command_line") or "")[:120]))
            console.print(t)
        t = Table(title="Infection order", title_justify="left")
        for c in ("gen", "host", "infected at", "infector", "technique"):
            t.add_column(c)
        for h in [h for h in inc["hosts"] if h["state"] == "infected"][:200]:
            t.add_row(_t(h["generation"]), _t(h["host"]), _t(h["infected_at"]), _t(h["infector"] or "-"), _t(h["technique"]))
        console.print(t)
        if inc["under_attack"]:
            console.print(f"under attack, not infected ({len(inc['under_attack'])}): "
                          + ", ".join(inc["under_attack"][:30]), highlight=False, markup=False)
        locked = inc["accounts"]["locked"]
        if locked:
            t = Table(title="Locked accounts (for the helpdesk)", title_justify="left")
            for c in ("account", "when", "caused by", "dc"):
                t.add_column(c)
            for lk in locked[:100]:
                t.add_row(_t(lk["account"]), _t(lk["ts"]), _t(lk["source_host"] or "?"), _t(lk["dc"]))
            console.print(t)
        for f in inc["families"]:
            console.print(f"family {f.get('family')}: {len(f.get('hosts') or [])} hosts; C2 {', '.join(f.get('c2') or [])}",
                          highlight=False, markup=False)
        if inc["c2"]:
            console.print("C2: " + ", ".join(f"{c['address']}:{c['port']}" for c in inc["c2"][:20]),
                          highlight=False, markup=False)
        t = Table(title="Containment order", title_justify="left")
        for c in ("rank", "host", "downstream", "reason"):
            t.add_column(c)
        for c in inc["containment"][:25]:
            t.add_row(_t(str(c["rank"])), _t(c["host"]), _t(str(c["downstream"])), _t(c["reason"]))
        console.print(t)
        act = inc["actions"]
        console.print(f"actions: isolate {len(act['isolate'])} hosts; reset {', '.join(act['reset_credentials'][:20]) or '-'}; "
                      f"MFA {', '.join(act['mfa'][:20]) or '-'}; block {', '.join(act['block'][:20]) or '-'}",
                      highlight=False, markup=False)
    others = [i for i in incs if i["type"] != "outbreak"]
    if others:
        t = Table(title="Other incidents", title_justify="left")
        for c in ("id", "type", "severity", "first seen", "title"):
            t.add_column(c, overflow="fold")
        for i in others[:50]:
            t.add_row(_t(i["id"]), _t(i["type"]), _t(i["severity"]), _t(str(i["first_seen"] or "")), _t(i["title"]))
        console.print(t)
        if len(others) > 50:
            console.print(f"... and {len(others) - 50} more in incidents.json", highlight=False)


@app.command()
def hunt(
    paths: list[Path] = typer.Argument(None, help="Telemetry to ingest first (files or folders)."),
    case: Path = typer.Option(None, "--case", "-c", help="Case file; a temporary one when not given."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for incidents.json and alerts.ndjson."),
    demo: bool = typer.Option(False, "--demo", help="Hunt the bundled demo outbreak."),
    sigma: list[Path] = typer.Option(None, "--sigma", help="Folder of Sigma rules (repeatable), run with the in-house rules."),
    no_sigma: bool = typer.Option(False, "--no-sigma", help="Skip the Sigma rules (in-house ones included)."),
    allowlist: Path = typer.Option(None, "--allowlist", help="YAML of expected deployers and files."),
    intel: Path = typer.Option(None, "--intel", help="Intel store or feed to name families."),
    report: Path = typer.Option(None, "--report", help="Also write the HTML report here."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
) -> None:
    """Find worm spread and rebuild the outbreak: patient zero, generations, lockouts, containment."""
    from wormsign.hunt import hunt as run_hunt
    from wormsign.ingest import IngestError

    paths = list(paths or []) + (_demo_paths() if demo else [])
    if not paths and case is None:
        err.print("[red]error:[/] give telemetry PATHS, --case CASE or --demo")
        raise typer.Exit(EXIT_ERROR)
    if case is None:
        tmp = Path(tempfile.mkdtemp(prefix="wormsign-"))
        case = tmp / "case.duckdb"
    elif not paths and not case.exists():
        err.print(f"error: no case file {case}", markup=False, style="red")
        raise typer.Exit(EXIT_ERROR)
    out = out or (Path.cwd() if case.parent.name.startswith("wormsign-") else case.parent)
    with Case.open(str(case)) as c:
        if paths:
            from wormsign.cli.ingest import run_ingest

            try:
                run_ingest(paths, c, strict=strict, workers=None)
            except IngestError as exc:
                err.print(f"error: {exc}", highlight=False, markup=False, style="red")
                raise typer.Exit(EXIT_ERROR) from None
        try:
            result = run_hunt(c, sigma_rules=None if no_sigma else [str(s) for s in sigma or []],
                              allowlist=str(allowlist) if allowlist else None,
                              intel=str(intel) if intel else None)
        except (ValueError, KeyError, OSError) as exc:
            err.print(f"error: {exc}", highlight=False, markup=False, style="red")
            raise typer.Exit(EXIT_ERROR) from None
        inc, al = write_outputs(out, result.document, result.alerts)
        print_summary(result.document, result.alerts)
        console.print(f"wrote {inc} and {al}", highlight=False, markup=False)
        if report is not None:
            try:
                from wormsign.report import write_report
            except ImportError:
                err.print("[yellow]warning:[/] the report module is not available; --report skipped")
            else:
                write_report(c, str(report))
                console.print(f"wrote {report}", highlight=False, markup=False)
