"""``wormsign ingest`` and ``wormsign stats``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from wormsign.cli.app import EXIT_ERROR, EXIT_REJECTS, app, console, err, esc, open_case, plain, wait_option
from wormsign.ingest import IngestError, IngestReport, ingest_paths
from wormsign.resolve import resolve
from wormsign.store import Case

CaseOpt = typer.Option(..., "--case", "-c", help="Case file (DuckDB); created when missing.")


def run_ingest(paths: list[Path], case: Case, *, strict: bool, workers: int | None, quiet: bool = False) -> IngestReport:
    """Ingest with a progress bar (files, records, rate); shared by ``ingest`` and ``hunt``."""
    started = time.perf_counter()
    done = {"records": 0}
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[records]:,} records  {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task("ingest", total=None, records=0, rate=0.0)

        def tick(name: str, records: int, size: int) -> None:
            done["records"] += records
            rate = done["records"] / max(time.perf_counter() - started, 1e-6)
            bar.update(task, advance=1, records=done["records"], rate=rate)

        report = ingest_paths([str(p) for p in paths], case, strict=strict, workers=workers, progress=tick)
    resolved = resolve(case)  # one identity per host: ip <-> host intervals, then enrich events
    report_elapsed = time.perf_counter() - started
    if not quiet:
        print_report(report, report_elapsed)
        console.print(
            f"hosts: {resolved.addresses:,} addresses resolved in {resolved.intervals:,} intervals, "
            f"{resolved.conflicts:,} conflicts (see host_conflicts), {resolved.updated:,} events enriched",
            highlight=False,
        )
    return report


def print_report(report: IngestReport, elapsed: float) -> None:
    st = report.stats
    console.print(
        f"[bold]{report.files}[/] files read, {report.skipped} already in the case; "
        f"{st.read:,} records: [green]{st.stored:,} stored[/], "
        f"[{'red' if st.rejected else 'green'}]{st.rejected:,} rejected[/]"
        + (f", {st.truncated:,} with fields cut to size" if st.truncated else "")
        + f" in {elapsed:.1f}s",
        highlight=False,
    )
    if st.rejected:
        t = Table(title="Rejected records", show_lines=False)
        t.add_column("reason")
        t.add_column("count", justify="right")
        for reason, n in st.reasons.most_common():
            t.add_row(plain(reason), f"{n:,}")  # reasons and files are attacker-written: no markup
        console.print(t)
        for r in report.rejects[:10]:
            err.print(Text.assemble(("rejected", "yellow"), " ", plain(r)), highlight=False, soft_wrap=True)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or directories (walked; .gz and .zip read in place)."),
    case: Path = CaseOpt,
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
    workers: int = typer.Option(0, "--workers", "-j", help="Parser processes (0: one per core)."),
    wait: float = wait_option(),
) -> None:
    """Load telemetry into a case. Re-ingesting the same file adds nothing.

    Exit status: 0 all records stored; 3 finished, some records rejected (counted);
    1 failed (with --strict, at the first bad record).
    """
    with open_case(case, wait=wait) as c:
        try:
            report = run_ingest(paths, c, strict=strict, workers=workers or None)
        except IngestError as exc:
            err.print(f"[red]error:[/] {esc(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
    if not report.ok:
        raise typer.Exit(EXIT_REJECTS)


@app.command()
def stats(case: Path = CaseOpt, wait: float = wait_option()) -> None:
    """Events per host, kind and source; the time range; rejected counts."""
    if not case.exists():
        err.print(f"[red]error:[/] no case file {esc(case)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    with open_case(case, read_only=True, wait=wait) as c:
        total = c.count()
        first, last = c.rows("SELECT min(ts), max(ts) FROM events")[0]
        console.print(f"[bold]{total:,}[/] events from {first} to {last}", highlight=False)
        for title, sql in (
            ("Events per kind", 'SELECT kind, count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC'),
            ("Events per host (top 25)", 'SELECT host, count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 25'),
            ("Events per source format", 'SELECT "src.format", count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC'),
            ("Events per channel and code (top 25)",
             'SELECT "event.dataset" || \' \' || coalesce("event.code", \'\'), count(*) n FROM events '
             "GROUP BY 1 ORDER BY 2 DESC LIMIT 25"),
        ):
            t = Table(title=title)
            t.add_column(title.split()[-1] if "top" not in title else title.split(" per ")[1].split(" (")[0])
            t.add_column("events", justify="right")
            for k, n in c.rows(sql):
                t.add_row(plain(k), f"{n:,}")  # host names, channels: attacker-written
            console.print(t)
        # Files that could not be opened are sources rows of their own (older cases: rejects
        # rows with no digest, counted here too), so this is the count ingest gave.
        files, rejected = c.rows(
            "SELECT count(*) FILTER (WHERE format <> 'unreadable'), coalesce(sum(rejected), 0) "
            "+ (SELECT count(*) FROM rejects WHERE digest = '') FROM sources"
        )[0]
        console.print(f"{files:,} source files; {rejected:,} records rejected", highlight=False)
        if rejected:
            t = Table(title="Rejected records per file")
            t.add_column("file")
            t.add_column("rejected", justify="right")
            t.add_column("reasons")
            for f, n, why in c.rows(
                "SELECT file, rejected, reasons FROM sources WHERE rejected > 0 ORDER BY rejected DESC LIMIT 25"
            ):
                t.add_row(plain(f), f"{n:,}", plain(why))
            console.print(t)
        unread = c.rows(
            "SELECT file, detail FROM rejects WHERE digest = '' OR reason = 'unreadable' ORDER BY file LIMIT 25"
        )
        if unread:
            t = Table(title="Files that could not be opened")
            t.add_column("file", overflow="fold")
            t.add_column("why")
            for f, why in unread:
                t.add_row(plain(f), plain(why))
            console.print(t)


@app.command()
def convert(
    old: Path = typer.Argument(..., help="A case file of an earlier wormsign (one DuckDB file)."),
    new: Path = typer.Argument(..., help="The case directory to create."),
) -> None:
    """Convert an earlier version's single-file case into a case directory (Parquet shards)."""
    from wormsign.store import CaseFormatError
    from wormsign.store import convert as convert_case

    try:
        n = convert_case(str(old), str(new))
    except (CaseFormatError, OSError) as exc:
        err.print(f"[red]error:[/] {esc(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
    console.print(f"converted {n:,} events into {esc(new)}; the next hunt resolves them", highlight=False)
