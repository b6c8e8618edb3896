"""``wormsign intel import|list|overlap|export|match`` and ``wormsign scan``: families and infrastructure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from wormsign.cli.app import EXIT_ERROR, EXIT_REJECTS, app, console, err, esc, plain

# The intel store and the case (pyarrow, DuckDB) are imported by the commands when they run,
# not with the command line (every other command would pay for them at start-up).
if TYPE_CHECKING:
    from wormsign.intel.store import IntelStore
    from wormsign.store import Case

#: The intel store's default file (``wormsign.intel.store.DEFAULT_PATH``, which a test compares
#: it with), named here for the options' help without importing the store.
DEFAULT_PATH = "intel.duckdb"

intel_app = typer.Typer(
    help="Threat intel: import feeds, match a case, compare C2, export STIX/MISP/CSV.", no_args_is_help=True
)
app.add_typer(intel_app, name="intel")

StoreOpt = typer.Option(
    None, "--store", "-s", help=f"Intel store file (default {DEFAULT_PATH}, or the case's)."
)
IntelCaseOpt = typer.Option(
    None, "--case", "-c", help="Keep the intel in this case file instead of its own store."
)


def _fail(msg: str) -> typer.Exit:
    err.print(f"[red]error:[/] {esc(msg)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


@contextmanager
def _open(
    store: Path | None, case: Path | None, *, create: bool = False
) -> Iterator[tuple[IntelStore, Case | None]]:
    """The intel store (``--store``, else the case's table, else the default file) and the case, if any.

    Only commands that write (import, scan) create a missing store or case.
    """
    from wormsign.intel.store import IntelStore
    from wormsign.store import Case

    for path, what in ((store, "intel store"), (case, "case")):
        if path is not None and not create and not path.exists():
            raise _fail(f"no {what} at {path}")
    if store is None and case is None and not create and not Path(DEFAULT_PATH).exists():
        raise _fail(f"no intel store at {DEFAULT_PATH}: import a feed first, or give --store or --case")
    c = Case.open(str(case)) if case else None
    try:
        if store is not None or c is None:
            s = IntelStore.open(str(store or DEFAULT_PATH))
        else:
            s = IntelStore.in_case(c)
        try:
            yield s, c
        finally:
            s.close()
    finally:
        if c is not None:
            c.close()


@intel_app.command("import")
def import_(
    files: list[Path] = typer.Argument(
        ..., help="Feed files or folders: Feodo CSV/JSON, STIX 2.1, MISP event, plain list."
    ),
    store: Path = StoreOpt,
    case: Path = IntelCaseOpt,
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, feodo-csv, feodo-json, stix, misp, list."),
    family: str = typer.Option(None, "--family", help="Family for rows that name none (plain lists)."),
    source: str = typer.Option(None, "--source", help="Source label (default: format:file name)."),
    incident: str = typer.Option(
        None, "--incident", help="Incident label, for `intel overlap --by incident`."
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row."),
) -> None:
    """Import indicators. Bad rows are named (file and line) and counted; the rest are stored.

    Exit status: 0 all rows imported; 3 some rows rejected; 1 failed.
    """
    from wormsign.intel.importer import FORMATS, ImportReport, IntelImportError, import_paths

    if fmt not in FORMATS:
        raise _fail(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    missing = [f for f in files if not f.exists() and not f.is_symlink()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(map(str, missing))}")
    report = ImportReport()
    # Everything in a folder but its sub-folders: a FIFO or device there is named and skipped, not lost.
    paths = [
        p for f in files for p in (sorted(x for x in f.rglob("*") if not x.is_dir()) if f.is_dir() else [f])
    ]
    with _open(store, case, create=True) as (s, _c):
        try:
            import_paths(
                [str(f) for f in paths],
                s,
                fmt=fmt,
                family=family,
                source=source,
                incident=incident,
                strict=strict,
                report=report,
            )
        except IntelImportError as exc:
            raise _fail(str(exc)) from None
    for name, kind in report.files.items():
        console.print(f"{esc(name)}: read as [bold]{esc(kind)}[/]", highlight=False, soft_wrap=True)
    console.print(
        f"[green]{report.imported:,} indicators imported[/], "
        f"[{'red' if report.rejected else 'green'}]{report.rejected:,} rows rejected[/], "
        f"[{'red' if report.bad_files else 'green'}]{len(report.bad_files):,} files rejected[/]",
        highlight=False,
        soft_wrap=True,
    )
    for e in report.bad_files[:50]:
        err.print(f"[yellow]file rejected[/] {esc(e)}", highlight=False, soft_wrap=True)
    for e in report.errors[:20]:
        err.print(f"[yellow]rejected[/] {esc(e)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_REJECTS)


@intel_app.command("list")
def list_(
    store: Path = StoreOpt,
    case: Path = IntelCaseOpt,
    family: str = typer.Option(None, "--family", help="List this family's indicators one by one."),
    limit: int = typer.Option(100, "--limit", help="Indicators shown with --family."),
) -> None:
    """Indicators per family and type, with first and last seen; --family lists them."""
    from wormsign.intel import render
    from wormsign.intel.indicators import family as canon

    with _open(store, case) as (s, _c):
        if family:
            inds = s.indicators(family=canon(family))
            console.print(render.indicators_table(f"Indicators of {canon(family) or family}", inds[:limit]))
            console.print(f"{len(inds):,} indicators" + (f" ({limit} shown)" if len(inds) > limit else ""))
            return
        console.print(render.summary_table(f"Intel store {s.path}", s.summary()))


@intel_app.command("overlap")
def overlap(
    store: Path = StoreOpt,
    case: Path = IntelCaseOpt,
    by: str = typer.Option(
        "family", "--by", help="family or incident (the import's --incident, else its source)."
    ),
    observed: bool = typer.Option(
        False, "--observed", help="Compare the C2 the case's hosts contacted (needs --case)."
    ),
    incidents: list[Path] = typer.Option(
        None, "--incidents", help="incidents.json files: compare their incidents."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare C2 sets (IP, IP:port, /24, ASN, domain, certificate): Jaccard, shared values, clusters."""
    from wormsign.intel import render
    from wormsign.intel import overlap as ov

    if by not in ("family", "incident"):
        raise _fail(f"--by {by}: use family or incident")
    groups: dict[str, ov.Sets] = {}
    if incidents:
        by = "incident"
        for f in incidents:
            try:
                groups.update(ov.groups_from_incidents(str(f)))
            except (OSError, ValueError) as exc:
                raise _fail(f"{f}: {exc}") from None
    else:
        with _open(store, case) as (s, c):
            if observed:
                if c is None:
                    raise _fail("--observed needs --case")
                from wormsign.intel.match import attribute

                groups = ov.groups_from_attribution(attribute(c, s))
            else:
                groups = ov.groups_from_store(s.indicators(), by)
    rep = ov.compare(groups, by=by)
    if as_json:
        print(json.dumps(rep.to_dict(), indent=2))
        return
    console.print(render.overlap_table(rep))
    for line in render.overlap_lines(rep):
        console.print(line, highlight=False, soft_wrap=True)


@intel_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    fmt: str = typer.Option("stix", "--format", "-f", help="stix, misp or csv."),
    store: Path = StoreOpt,
    case: Path = typer.Option(None, "--case", "-c", help="Case: export what its hosts saw, with sightings."),
    family: str = typer.Option(None, "--family", help="Only this family."),
    incident: str = typer.Option(None, "--incident", help="Only indicators imported with this --incident."),
    everything: bool = typer.Option(
        False, "--all", help="With --case: every indicator, not only those seen."
    ),
    incidents: Path = typer.Option(
        None, "--incidents", help="A hunt's incidents.json: export one of its incidents."
    ),
    incident_id: str = typer.Option(None, "--id", help="With --incidents: the incident (INC-0001)."),
) -> None:
    """Export indicators and relations as a STIX 2.1 bundle, a MISP event, or a CSV blocklist.

    From the intel store (optionally with a case's sightings), or from one incident of a hunt.
    """
    from wormsign.intel.export import FORMATS
    from wormsign.intel.export import export as do_export
    from wormsign.intel.indicators import family as canon
    from wormsign.intel.match import attribute

    if fmt not in FORMATS:
        raise _fail(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if incidents is not None:
        from wormsign.intel.incident import from_incident, load_incident

        if not incident_id:
            raise _fail("--incidents needs --id")
        try:
            inc = load_incident(str(incidents), incident_id)
        except (OSError, ValueError) as exc:
            raise _fail(str(exc)) from None
        inds, attr = from_incident(inc)
        text = do_export(fmt, inds, info=f"wormsign: {inc.get('title') or incident_id}", attribution=attr,
                         incident=inc)
        out.write_text(text, encoding="utf-8")
        console.print(
            f"wrote {esc(out)} ({fmt}, {len(inds)} indicators)", highlight=False, soft_wrap=True
        )
        return
    with _open(store, case) as (s, c):
        inds = s.indicators(family=canon(family) if family else None, incident=incident)
        attr = attribute(c, s) if c is not None and not everything else None
        title = (
            "wormsign: "
            + (f"{canon(family)} " if family else "")
            + (f"incident {incident} " if incident else "")
        )
        text = do_export(
            fmt, inds, info=(title + (f"case {c.path}" if c else "indicators")).strip(), attribution=attr
        )
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {esc(out)} ({fmt}, {len(text):,} bytes)", highlight=False, soft_wrap=True)


@intel_app.command("match")
def match(
    case: Path = typer.Option(..., "--case", "-c", help="Case directory to match."),
    store: Path = StoreOpt,
    out: Path = typer.Option(None, "--json", help="Also write the attribution as JSON to this file."),
) -> None:
    """Attribute the case's hosts and processes to families; C2 observed; deliveries between families."""
    from wormsign.intel import render
    from wormsign.intel.match import attribute

    with _open(store, case) as (s, c):
        assert c is not None
        attr = attribute(c, s)
    console.print(render.hosts_table(attr))
    for line in render.attribution_lines(attr):
        console.print(line, highlight=False, soft_wrap=True)
    if out is not None:
        out.write_text(json.dumps(attr.to_dict(), indent=2, default=str), encoding="utf-8")


@app.command()
def scan(
    paths: list[Path] = typer.Argument(..., help="Files or folders collected from hosts (walked)."),
    rules: Path = typer.Option(..., "--rules", "-r", help="Folder of your YARA rules (*.yar, *.yara)."),
    store: Path = StoreOpt,
    case: Path = IntelCaseOpt,
) -> None:
    """Run YARA rules over files; each hit's hashes go into the intel store under the rule's family.

    A rule's ``family`` metadata names the family; without it, the rule's name does.
    """
    from wormsign.intel.yarascan import RulesError, compile_rules
    from wormsign.intel.yarascan import scan as do_scan

    try:
        compiled = compile_rules(str(rules))
    except RulesError as exc:
        raise _fail(str(exc)) from None
    rep = do_scan([str(p) for p in paths], compiled)
    with _open(store, case, create=True) as (s, _c):
        stored = s.add(rep.indicators())
    t = Table(title="YARA hits")
    for col in ("file", "rule", "family", "sha256"):
        t.add_column(col)
    for h in rep.hits:
        t.add_row(plain(h.path), plain(h.rule), plain(h.family), plain(h.sha256))
    console.print(t)
    console.print(
        f"{rep.scanned:,} files scanned, {len(rep.hits):,} hits, {stored:,} hash indicators stored, "
        f"{len(rep.skipped):,} skipped",
        highlight=False,
        soft_wrap=True,
    )
    for path, why in rep.skipped[:20]:
        err.print(f"[yellow]skipped[/] {esc(path)}: {esc(why)}", highlight=False, soft_wrap=True)
