"""``wormsign hunt``: ingest (optional), run the detections, print the outbreak, write the files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from wormsign.cli.app import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REJECTS,
    app,
    be_quiet,
    be_verbose,
    console,
    err,
    from_option,
    json_option,
    open_case,
    plain,
    print_json,
    quiet_option,
    to_option,
    wait_option,
)
from wormsign.text import printable


def _demo() -> tuple[list[Path], Path | None]:
    """The bundled demo's telemetry, and its threat-intel feeds (used when --intel is not given)."""
    from wormsign import demo

    feeds = Path(demo.path()) / "feeds"
    return [Path(demo.logs())], (feeds if feeds.is_dir() else None)


def c2_overlap(families: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, list[str]]]]:
    """For each pair of families, the C2 they share by exact address, address:port and /24."""
    def keys(c2: list[str]) -> dict[str, set[str]]:
        ipport = set(c2)
        ips = {c.rsplit(":", 1)[0] for c in c2}
        nets = {ip.rsplit(".", 1)[0] + ".0/24" for ip in ips if ip.count(".") == 3}
        return {"ip:port": ipport, "ip": ips, "/24": nets}

    out = []
    for i, a in enumerate(families):
        for b in families[i + 1 :]:
            ka, kb = keys(a.get("c2") or []), keys(b.get("c2") or [])
            shared = {k: sorted(ka[k] & kb[k]) for k in ka if ka[k] & kb[k]}
            out.append((str(a.get("family")), str(b.get("family")), shared))
    return out


def _t(v: Any) -> Text:
    """A table cell or line of attacker-written text: shown escaped, never read as rich markup."""
    return plain(v)


def _p(v: Any) -> str:
    """Attacker-written text inside a line printed with ``markup=False``."""
    return printable(v)


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
        console.rule(plain(f"{inc['id']} {inc['title']}", style="bold red"), characters="=")
        console.print(_t(f"patient zero: {inc['patient_zero']}   spread rate: {inc['spread_rate_per_hour']}/h   "
                         f"R: {inc['r_estimate']}   first alert: {inc['first_alert']}"), highlight=False)
        if inc["initial_access"]:
            t = Table(title="Initial access on patient zero", title_justify="left")
            for c in ("time", "step", "parent or writer", "started, written, or exploit source", "command line"):
                t.add_column(c, overflow="fold")
            for r in inc["initial_access"][:10]:
                step = r.get("step") or "process"
                what = {"file": r.get("file"), "exploit": f"{r.get('source')}:{r.get('port')}"}.get(step, r.get("process"))
                t.add_row(_t(r["ts"]), _t(step), _t(r.get("parent") if step == "process" else r.get("process")),
                          _t(what), _t(str(r.get("command_line") or "")[:120]))
            console.print(t)
        t = Table(title="Infection order", title_justify="left")
        for c in ("gen", "host", "infected at", "infector", "technique", "families"):
            t.add_column(c)
        for h in [h for h in inc["hosts"] if h["state"] == "infected"][:200]:
            t.add_row(_t(h["generation"]), _t(h["host"]), _t(h["infected_at"]), _t(h["infector"] or "-"),
                      _t(h["technique"]), _t(", ".join(h.get("families") or []) or "-"))
        console.print(t)
        if inc["under_attack"]:
            console.print(f"under attack, not infected ({len(inc['under_attack'])}): "
                          + ", ".join(_p(h) for h in inc["under_attack"][:30]), highlight=False, markup=False)
        locked = inc["accounts"]["locked"]
        if locked:
            t = Table(title="Locked accounts (for the helpdesk)", title_justify="left")
            for c in ("account", "when", "caused by", "dc"):
                t.add_column(c)
            for lk in locked[:100]:
                t.add_row(_t(lk["account"]), _t(lk["ts"]), _t(lk["source_host"] or "?"), _t(lk["dc"]))
            console.print(t)
        for f in inc["families"]:
            console.print(f"family {_p(f.get('family'))}: {len(f.get('hosts') or [])} hosts; "
                          f"C2 {_p(', '.join(f.get('c2') or []))}",
                          highlight=False, markup=False)
        deliveries = inc.get("deliveries") or []
        if deliveries:
            pairs: dict[tuple[str, str], set[str]] = {}
            for d in deliveries:
                pairs.setdefault((str(d.get("from_family")), str(d.get("to_family"))), set()).add(str(d.get("host")))
            for (a, b), hosts in sorted(pairs.items()):
                console.print(f"delivery chain: {_p(a)} delivered {_p(b)} on {len(hosts)} hosts "
                              f"(first on {_p(deliveries[0].get('host'))} at {_p(deliveries[0].get('ts'))})",
                              highlight=False, markup=False)
        for a, b, shared in c2_overlap(inc["families"]):
            what = "; ".join(f"{k}: {', '.join(v[:5])}" for k, v in shared.items()) or "none"
            console.print(f"C2 overlap {_p(a)} / {_p(b)}: {_p(what)}", highlight=False, markup=False)
        if inc["c2"]:
            console.print("C2: " + ", ".join(_p(f"{c['address']}:{c['port']}") for c in inc["c2"][:20]),
                          highlight=False, markup=False)
        t = Table(title="Containment order", title_justify="left")
        for c in ("rank", "host", "downstream", "reason"):
            t.add_column(c)
        for c in inc["containment"][:25]:
            t.add_row(_t(str(c["rank"])), _t(c["host"]), _t(str(c["downstream"])), _t(c["reason"]))
        console.print(t)
        act = inc["actions"]
        console.print(f"actions: isolate {len(act['isolate'])} hosts; "
                      f"reset {_p(', '.join(act['reset_credentials'][:20])) or '-'}; "
                      f"MFA {_p(', '.join(act['mfa'][:20])) or '-'}; "
                      f"block {_p(', '.join(act['block'][:20])) or '-'}",
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
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="Telemetry to ingest first (files or folders)."),
    case: Path = typer.Option(None, "--case", "-c", help="Case directory (created when missing); a temporary one when not given."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for incidents.json and alerts.ndjson."),
    demo: bool = typer.Option(False, "--demo", help="Hunt the bundled demo outbreak."),
    sigma: list[Path] = typer.Option(None, "--sigma", help="Folder of Sigma rules (repeatable), run with the in-house rules."),
    no_sigma: bool = typer.Option(False, "--no-sigma", help="Skip the Sigma rules (in-house ones included)."),
    allowlist: Path = typer.Option(None, "--allowlist", help="YAML of expected deployers and files."),
    intel: Path = typer.Option(None, "--intel", help="Intel store or feed to name families."),
    report: Path = typer.Option(None, "--report", help="Also write the HTML report here."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
    wait: float = wait_option(),
    start: Any = from_option(),
    end: Any = to_option(),
    engine: str = typer.Option("duckdb", "--engine",
                               help="Where the passes over every event run: DuckDB, or Apache Spark "
                                    "(the spark extra and Java 17+)."),
    master: str = typer.Option(None, "--master", help="Spark master URL (with --engine spark): "
                                                      "local[N] (default local[*]) or a cluster's."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every rejected record; list each file read."),
) -> None:
    """Find worm spread and rebuild the outbreak: patient zero, generations, lockouts, containment.

    With --from/--to the hunt considers only the events in that window (the case is ingested
    and resolved whole). Exit status: 0 done; 3 done, some records of PATHS rejected; 1 failed."""
    from wormsign.hunt import hunt as run_hunt
    from wormsign.ingest import IngestError

    be_quiet(quiet or as_json)
    be_verbose(verbose, ctx)
    if start is not None and end is not None and end <= start:
        err.print("error: --to must be after --from", markup=False, style="red")
        raise typer.Exit(EXIT_ERROR)

    if engine not in ("duckdb", "spark"):
        err.print(f"error: --engine is duckdb or spark, not {engine!r}", markup=False, style="red")
        raise typer.Exit(EXIT_ERROR)
    if demo:
        demo_logs, demo_feeds = _demo()
        paths = list(paths or []) + demo_logs
        intel = intel or demo_feeds
    if not paths and case is None:
        err.print("[red]error:[/] give telemetry PATHS, --case CASE or --demo")
        raise typer.Exit(EXIT_ERROR)
    if case is None:
        tmp = Path(tempfile.mkdtemp(prefix="wormsign-"))
        case = tmp / "case.duckdb"
    elif not paths and not case.exists():
        err.print(f"error: no case file {_p(case)}", markup=False, style="red", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    out = out or (Path.cwd() if case.parent.name.startswith("wormsign-") else case.parent)
    rejected = False
    ingested = None
    with open_case(case, wait=wait, engine=engine, master=master) as c:
        if paths:
            from datetime import UTC, datetime

            from wormsign.cli.ingest import print_files, run_ingest

            since = datetime.now(UTC)
            try:
                ingested = run_ingest(paths, c, strict=strict, workers=None, quiet=console.quiet)
                rejected = not ingested.ok
                if verbose and not console.quiet:
                    print_files(c, since)
            except IngestError as exc:
                err.print(f"error: {_p(exc)}", highlight=False, markup=False, style="red", soft_wrap=True)
                raise typer.Exit(EXIT_ERROR) from None
        try:
            result = run_hunt(c, sigma_rules=None if no_sigma else [str(s) for s in sigma or []],
                              allowlist=str(allowlist) if allowlist else None,
                              intel=str(intel) if intel else None, start=start, end=end)
        except (ValueError, KeyError, OSError) as exc:
            err.print(f"error: {_p(exc)}", highlight=False, markup=False, style="red", soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
        inc, al = write_outputs(out, result.document, result.alerts)
        print_summary(result.document, result.alerts)
        console.print(f"wrote {_p(inc)} and {_p(al)}", highlight=False, markup=False, soft_wrap=True)
        written = {"incidents": str(inc), "alerts": str(al)}
        if report is not None:
            from wormsign.report import write_report

            write_report(c, str(report))
            written["report"] = str(report)
            console.print(f"wrote {_p(report)}", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print_json(hunt_json(result.document, result.alerts, written, ingested,
                             EXIT_REJECTS if rejected else EXIT_OK))
    if rejected:
        raise typer.Exit(EXIT_REJECTS)


def hunt_json(document: dict[str, Any], alerts: list[dict[str, Any]], written: dict[str, str],
              ingested: Any, status: int) -> dict[str, Any]:
    """The ``--json`` summary of a hunt (docs/cli.md): counts, each incident in brief, the files."""
    from collections import Counter

    from wormsign.cli.ingest import report_json

    incs = document["incidents"]
    return {
        "case": document.get("case"), "window": document.get("window"),
        "alerts": len(alerts), "alerts_by_severity": dict(Counter(a.get("severity") for a in alerts)),
        "incidents": [
            {k: i.get(k) for k in ("id", "type", "severity", "title", "first_seen", "last_seen", "patient_zero")}
            | {"hosts": len(i.get("hosts") or []), "alerts": len(i.get("alerts") or [])}
            for i in incs],
        "outbreaks": sum(1 for i in incs if i["type"] == "outbreak"),
        "files": written,
        "ingest": None if ingested is None else report_json(ingested),
        "exit_status": status,
    }
