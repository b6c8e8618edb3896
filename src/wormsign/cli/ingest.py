"""``wormsign ingest`` and ``wormsign stats``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
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
    esc,
    from_option,
    json_option,
    open_case,
    plain,
    print_json,
    quiet_option,
    to_option,
    wait_option,
)

# The ingest pipeline, the resolution and the store (pyarrow, DuckDB) are imported by the commands
# when they run, not with the command line: ``wormsign --help`` and the other commands would pay
# for them at every start. Names used only in annotations are the type checker's.
if TYPE_CHECKING:
    from wormsign.ingest import IngestReport
    from wormsign.ingest.pipeline import Options
    from wormsign.store import Case

CaseOpt = typer.Option(..., "--case", "-c", help="Case directory (Parquet shards and catalog.duckdb); created when missing.")


def totals(paths: list[Path]) -> tuple[int, int]:
    """Files and bytes under ``paths`` (walked as ingest walks them, nothing read but the first
    bytes of each file): the progress bar's totals."""
    from wormsign.ingest.walk import sources

    files = size = 0
    for s in sources([str(p) for p in paths]):
        files += 1
        size += int(getattr(s, "size", 0) or 0)
    return files, size


@dataclass(slots=True)
class Ingested:
    """An ingest run as the commands report it: what the pipeline did, the resolution after it, the time."""

    report: IngestReport
    resolved: Any
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.report.ok


def run_ingest(paths: list[Path], case: Case, *, strict: bool, workers: int | None, quiet: bool = False,
               summary: bool = True, keep_copies: bool = False, options: Options | None = None,
               names: dict[str, str] | None = None) -> Ingested:
    """Ingest with a progress bar (files of the total, records, rate, time left by bytes);
    shared by ``ingest`` and ``hunt``. ``summary``: print what was stored. ``options``: the
    reader and time window (:class:`~wormsign.ingest.pipeline.Options`; None: the defaults)."""
    from wormsign.ingest import ingest_paths
    from wormsign.ingest.pipeline import Options
    from wormsign.resolve import resolve

    started = time.perf_counter()
    done = {"records": 0, "files": 0}
    nfiles, nbytes = totals(paths) if not quiet else (0, 0)
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        TextColumn("{task.fields[files]:,}/{task.fields[nfiles]:,} files  {task.fields[records]:,} records  "
                   "{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    ) as bar:
        # The bar advances by bytes (a file's size when it is done): files differ in size by orders
        # of magnitude, so bytes give the better time left. Files already in the case are hashed,
        # not parsed, and never advance it: the time left is then an upper bound.
        task = bar.add_task("ingest", total=max(nbytes, 1), records=0, rate=0.0, files=0, nfiles=nfiles)

        def tick(name: str, records: int, size: int) -> None:
            done["records"] += records
            done["files"] += 1
            rate = done["records"] / max(time.perf_counter() - started, 1e-6)
            bar.update(task, advance=size, records=done["records"], rate=rate, files=done["files"])

        report = ingest_paths([str(p) for p in paths], case, strict=strict, workers=workers, progress=tick,
                              keep_copies=keep_copies, options=options or Options(), names=names)
    resolved = resolve(case)  # one identity per host: ip <-> host intervals, then enrich events
    report_elapsed = time.perf_counter() - started
    if summary and not quiet:
        print_report(report, report_elapsed)
        console.print(
            f"hosts: {resolved.addresses:,} addresses resolved in {resolved.intervals:,} intervals, "
            f"{resolved.conflicts:,} conflicts (see host_conflicts), {resolved.updated:,} events enriched",
            highlight=False,
        )
    return Ingested(report, resolved, report_elapsed)


def report_json(run: Ingested) -> dict[str, object]:
    """The ``--json`` summary of an ingest (docs/cli.md)."""
    report, resolved = run.report, run.resolved
    st = report.stats
    return {
        "files": report.files, "skipped": report.skipped, "unknown": list(report.unknown),
        "records": st.read, "stored": st.stored, "rejected": st.rejected, "truncated": st.truncated,
        "copies": st.copies, "outside_window": st.outside,
        "reasons": dict(st.reasons.most_common()), "by_format": dict(sorted(report.by_format.items())),
        "rejects": [{"file": r.file, "record": r.record, "reason": r.reason, "detail": r.detail}
                    for r in report.rejects[:10]],
        "hosts": None if resolved is None else {
            "addresses": resolved.addresses, "intervals": resolved.intervals,
            "conflicts": resolved.conflicts, "enriched": resolved.updated},
        "elapsed_s": round(run.elapsed, 3),
        "exit_status": EXIT_OK if report.ok else EXIT_REJECTS,
    }


def print_report(report: IngestReport, elapsed: float) -> None:
    st = report.stats
    console.print(
        f"[bold]{report.files}[/] files read, {report.skipped} already in the case; "
        f"{st.read:,} records: [green]{st.stored:,} stored[/], "
        f"[{'red' if st.rejected else 'green'}]{st.rejected:,} rejected[/]"
        + (f", {st.copies:,} copies of records already stored" if st.copies else "")
        + (f", {st.outside:,} outside the time window" if st.outside else "")
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


def _spool_stdin() -> tuple[str, str]:
    """Standard input written to a temporary file (readers need to read a file twice: to pick
    the format, then to parse it); returns (its folder, the file)."""
    import shutil
    import sys
    import tempfile

    folder = tempfile.mkdtemp(prefix="wormsign-stdin-")
    path = os.path.join(folder, "stdin")
    with open(path, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return folder, path


def print_files(case: Case, since: Any) -> None:
    """``-v``: each file this run read, with its records stored, rejected and left out."""
    rows = case.rows("SELECT file, format, records, stored, rejected FROM sources WHERE ingested_at >= ? "
                     "ORDER BY file", [since])
    t = Table(title="Files read")
    for col, just in (("file", "left"), ("format", "left"), ("records", "right"), ("stored", "right"),
                      ("rejected", "right"), ("left out", "right")):
        t.add_column(col, justify=just, overflow="fold" if col == "file" else "ellipsis")  # type: ignore[arg-type]
    for f, fmt, n, stored, rej in rows:
        t.add_row(plain(f), plain(fmt), f"{n or 0:,}", f"{stored or 0:,}", f"{rej or 0:,}",
                  f"{(n or 0) - (stored or 0) - (rej or 0):,}")
    console.print(t)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help="Files or directories (walked; .gz and .zip read in place); - reads standard input."),
    case: Path = CaseOpt,
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record."),
    workers: int = typer.Option(0, "--workers", "-j", help="Parser processes (0: one per core, started once the files left would take over a second of CPU)."),
    fmt: str = typer.Option(None, "--format", "-f",
                            help="Read every file with this reader (evtx, evtx-json, ecs, zeek, dhcpsrv, lanl) "
                            "instead of picking one by content."),
    start: Any = from_option(),
    end: Any = to_option(),
    keep_copies: bool = typer.Option(False, "--keep-copies",
                                     help="Store records that copies of the same log hold again (benches)."),
    wait: float = wait_option(),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every rejected record; list each file read."),
) -> None:
    """Load telemetry into a case. Re-ingesting the same file adds nothing, and neither does
    another copy of a log already in the case (a backup, a shadow copy: an EVTX record is the
    same record when its channel, computer, record id and time are; --keep-copies stores them).
    With --from/--to only the events in that window are stored, the others counted.

    Exit status: 0 all records stored; 3 finished, some records rejected (counted);
    1 failed (with --strict, at the first bad record).
    """
    import shutil

    be_quiet(quiet or as_json)
    be_verbose(verbose, ctx)
    if start is not None and end is not None and start >= end:
        err.print("[red]error:[/] --from must be before --to", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    names: dict[str, str] = {}
    spool = None
    if any(str(p) == "-" for p in paths):
        spool, spooled = _spool_stdin()
        names[spooled] = "<stdin>"
        paths = [Path(spooled) if str(p) == "-" else p for p in paths]
    from wormsign.ingest import IngestError
    from wormsign.ingest.pipeline import Options

    options = Options(fmt=fmt or None, start=start, end=end)
    since = datetime.now(UTC)
    try:
        with open_case(case, wait=wait) as c:
            try:
                run = run_ingest(paths, c, strict=strict, workers=workers or None,
                                 quiet=quiet or console.quiet, keep_copies=keep_copies, options=options,
                                 names=names)
            except IngestError as exc:
                err.print(f"[red]error:[/] {esc(exc)}", highlight=False, soft_wrap=True)
                raise typer.Exit(EXIT_ERROR) from None
            if verbose and not (quiet or console.quiet):
                print_files(c, since)
    finally:
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
    if as_json:
        print_json(report_json(run))
    if not run.ok:
        raise typer.Exit(EXIT_REJECTS)


#: What ``stats`` counts, per title: (JSON key, SQL of (key, count) rows, rows shown in the table).
STATS = (
    ("Events per kind", "by_kind", 'SELECT kind, count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC, 1', None),
    ("Events per host (top 25)", "by_host", "SELECT host, count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC, 1", 25),
    ("Events per source format", "by_format",
     'SELECT "src.format", count(*) n FROM events GROUP BY 1 ORDER BY 2 DESC, 1', None),
    ("Events per channel and code (top 25)", "by_channel_code",
     'SELECT "event.dataset" || \' \' || coalesce("event.code", \'\'), count(*) n FROM events '
     "GROUP BY 1 ORDER BY 2 DESC, 1", 25),
)


def _reasons(text: str | None) -> Any:
    """A sources row's reasons (JSON text of reason -> count; kept as text when it is not JSON)."""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return text


def case_stats(c: Case) -> dict[str, Any]:
    """What ``stats`` shows, as data (its ``--json`` document; docs/cli.md)."""
    first, last = c.rows("SELECT min(ts), max(ts) FROM events")[0]
    doc: dict[str, Any] = {"case": str(c.path), "events": c.count(),
                           "first": first.isoformat() if first else None, "last": last.isoformat() if last else None}
    for _, key, sql, _ in STATS:
        doc[key] = [[k, int(n)] for k, n in c.rows(sql)]
    # Files that could not be opened are sources rows of their own (older cases: rejects
    # rows with no digest, counted here too), so this is the count ingest gave.
    files, rejected = c.rows(
        "SELECT count(*) FILTER (WHERE format <> 'unreadable'), coalesce(sum(rejected), 0) "
        "+ (SELECT count(*) FROM rejects WHERE digest = '') FROM sources"
    )[0]
    doc["sources"], doc["rejected"] = int(files), int(rejected)
    doc["rejected_per_file"] = [
        {"file": f, "rejected": int(n), "reasons": _reasons(why)}
        for f, n, why in c.rows("SELECT file, rejected, reasons FROM sources WHERE rejected > 0 "
                                "ORDER BY rejected DESC, file")]
    doc["unreadable"] = [{"file": f, "why": why} for f, why in c.rows(
        "SELECT file, detail FROM rejects WHERE digest = '' OR reason = 'unreadable' ORDER BY file")]
    return doc


@app.command()
def stats(
    case: Path = CaseOpt,
    wait: float = wait_option(),
    as_json: bool = json_option(),
) -> None:
    """Events per host, kind and source; the time range; rejected counts."""
    if not case.exists():
        err.print(f"[red]error:[/] no case file {esc(case)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    with open_case(case, read_only=True, wait=wait) as c:
        doc = case_stats(c)
    if as_json:
        print_json(doc)
        return
    console.print(f"[bold]{doc['events']:,}[/] events from {doc['first']} to {doc['last']}", highlight=False)
    for title, key, _, top in STATS:
        t = Table(title=title)
        t.add_column(title.split()[-1] if "top" not in title else title.split(" per ")[1].split(" (")[0])
        t.add_column("events", justify="right")
        for k, n in doc[key][:top]:
            t.add_row(plain(k), f"{n:,}")  # host names, channels: attacker-written
        console.print(t)
    console.print(f"{doc['sources']:,} source files; {doc['rejected']:,} records rejected", highlight=False)
    if doc["rejected"]:
        t = Table(title="Rejected records per file")
        t.add_column("file")
        t.add_column("rejected", justify="right")
        t.add_column("reasons")
        for r in doc["rejected_per_file"][:25]:
            t.add_row(plain(r["file"]), f"{r['rejected']:,}", plain(r["reasons"] if isinstance(r["reasons"], str)
                                                           else json.dumps(r["reasons"], sort_keys=True)))
        console.print(t)
    if doc["unreadable"]:
        t = Table(title="Files that could not be opened")
        t.add_column("file", overflow="fold")
        t.add_column("why")
        for r in doc["unreadable"][:25]:
            t.add_row(plain(r["file"]), plain(r["why"]))
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
