"""``wormsign report``, ``wormsign serve`` and ``wormsign export``: show and hand on the outbreak."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from wormsign.cli.app import EXIT_ERROR, app, console, err, esc

# DuckDB and the store (pyarrow) are imported by the commands when they run, not with the
# command line (every other command would pay for them at start-up).
if TYPE_CHECKING:
    from wormsign.store import Case

_CASE = typer.Option(..., "--case", "-c", help="Case (directory) that a hunt has run on.")


def _open(case: Path) -> Case:
    import duckdb

    from wormsign.store import Case, CaseFormatError

    if not case.is_dir():
        err.print(f"[red]error:[/] {esc(case)}: no such case", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    try:
        return Case.open(str(case), read_only=True)
    except (duckdb.Error, CaseFormatError) as e:
        err.print(
            f"[red]error:[/] {esc(case)}: cannot open the case: {esc(e)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_ERROR) from e


@app.command()
def report(
    case: Path = _CASE,
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
) -> None:
    """Write the outbreak report: one HTML file that works offline (graph, replay, evidence, actions)."""
    from wormsign.report import ViewError, write_report
    from wormsign.web import AssetMissing, bundled

    with _open(case) as c:
        try:
            out = write_report(c, output)
        except (ViewError, AssetMissing) as e:
            err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from e
    console.print(
        f"report written to {esc(out)} ({out.stat().st_size:,} bytes)",
        highlight=False,
        soft_wrap=True,
    )
    if not bundled():
        err.print(
            "[yellow]warning:[/] the graph library is not bundled (run scripts/build-web.sh): "
            "the report has no graph",
            highlight=False,
        )


@app.command()
def export(
    case: Path = _CASE,
    fmt: str = typer.Option(
        "json",
        "--format",
        "-f",
        help="json, csv (a directory of hosts, edges, locked_accounts), graphml; the findings as "
        "ecs (ECS alerts, NDJSON), timesketch (JSONL) or timeline (Hayabusa-style CSV of the evidence).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="File to write (a directory for csv)."),
) -> None:
    """Export the outbreak (JSON, CSV, GraphML for Gephi and yEd) or the findings (ECS alerts,
    Timesketch JSONL, a CSV timeline of the events behind them)."""
    from wormsign.outputs import FORMATS as FINDINGS
    from wormsign.outputs import export as export_findings
    from wormsign.report import ViewError
    from wormsign.report.export import FORMATS
    from wormsign.report.export import export as run_export

    if fmt not in FORMATS + FINDINGS:
        err.print(
            f"[red]error:[/] unknown format {esc(repr(fmt))}; known: {', '.join(FORMATS + FINDINGS)}",
            highlight=False,
        )
        raise typer.Exit(EXIT_ERROR)
    with _open(case) as c:
        try:
            if fmt in FINDINGS:
                n = export_findings(c, fmt, str(output))
                console.print(f"wrote {esc(output)} ({n:,} records)", highlight=False, soft_wrap=True)
                return
            files = run_export(c, fmt, output)
        except (ViewError, OSError) as e:
            err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from e
    for f in files:
        console.print(f"wrote {esc(f)}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    case: Path = _CASE,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8765, "--port", help="TCP port."),
    live: bool = typer.Option(True, "--live/--no-live",
                              help="Accept events over HTTP (Elasticsearch _bulk, POST /api/events)."),
    create: bool = typer.Option(False, "--create", help="Create an empty case when there is none (for live ingest)."),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json) and the live dashboard over a case.

    With live ingest (the default) Winlogbeat, Elastic Agent and Logstash can send events to the
    server as to Elasticsearch (the token as the password), and Fluent Bit, Vector or curl can POST
    NDJSON to /api/events; each accepted event is stored before the answer and the hunt runs again
    on what arrives (README: "Live ingest")."""
    import duckdb
    import uvicorn

    from wormsign.api import create_app, load_or_create, token_path
    from wormsign.store import Case, CaseFormatError, CaseLocked

    if create and not case.exists():
        Case.open(str(case)).close()
    elif live and case.is_dir():
        try:  # a writer's open finishes what a killed server or ingest left half committed
            Case.open(str(case)).close()
        except (CaseLocked, duckdb.Error, CaseFormatError, OSError):
            pass  # another process holds it (or it is no case): said below, or when it is free
    _open(case).close()
    try:
        token, created = load_or_create(case)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from e
    url = f"http://{host if ':' not in host else '[' + host + ']'}:{port}/"
    if created:
        console.print(
            f"API token (shown once, kept in {esc(token_path(case))}): {esc(token)}",
            highlight=False,
        )
        console.print(f"dashboard: {esc(url)}?token={esc(token)}", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"API token: in {esc(token_path(case))}; dashboard: {esc(url)}?token=<token>",
            highlight=False,
            soft_wrap=True,
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[yellow]warning:[/] serving on {esc(host)}: reachable from other machines", highlight=False
        )
    uvicorn.run(create_app(case, token, live=live), host=host, port=port, log_level="warning")
