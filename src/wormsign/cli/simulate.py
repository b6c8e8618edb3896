"""``wormsign simulate``: write an organisation's telemetry with an outbreak mixed in, and its truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from wormsign.cli.app import EXIT_ERROR, app, console, err
from wormsign.simulate import DEFAULT_START, SCENARIOS, simulate as run_simulation


@app.command()
def simulate(
    scenario: str = typer.Option("emotet", "--scenario", "-s", help=f"One of: {', '.join(SCENARIOS)}."),
    hosts: int = typer.Option(200, "--hosts", "-n", help="Hosts in the organisation (servers included)."),
    days: int = typer.Option(3, "--days", "-d", help="Days of telemetry."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same bytes."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write logs/, feeds/ and truth.json into."),
    start: str = typer.Option(DEFAULT_START, "--start", help="Start of the first day (ISO 8601, UTC)."),
    attack_at: float = typer.Option(None, "--attack-at", help="Hours after --start when the attack begins."),
    zeek_format: str = typer.Option("tsv", "--zeek-format", help="tsv (Zeek's default) or json."),
    level: int = typer.Option(6, "--compress-level", min=1, max=9, help="gzip level of the output files."),
    force: bool = typer.Option(False, "--force", help="Replace a run already in --out."),
    benign_volume: float = typer.Option(
        None, "--benign-volume", min=1.0, max=1000.0,
        help="Everyday background per host-day, as a multiple (default: 'volume' in benign.yaml, 1); "
             "at v each host logs about (v - 1) x 170 more records a day.",
    ),
) -> None:
    """Simulate an outbreak in a Windows organisation: Winlogbeat NDJSON, Zeek logs, intel feeds, truth.json.

    Ingest the telemetry with ``wormsign ingest OUT/logs``; score a hunt with ``wormsign eval``.
    """
    if scenario not in SCENARIOS:
        err.print(f"[red]error:[/] unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
        raise typer.Exit(EXIT_ERROR)
    started = time.perf_counter()
    try:
        with Progress(TextColumn("[bold]simulate"), BarColumn(), TextColumn("{task.completed}/{task.total} chunks"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("simulate", total=None)
            doc = run_simulation(scenario, hosts, days, seed, out, start=start, attack_at=attack_at,
                                 zeek_format=zeek_format, compresslevel=level, overwrite=force,
                                 benign_volume=benign_volume,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    elapsed = time.perf_counter() - started
    st = doc["_stats"]
    console.print(
        f"[bold]{scenario}[/]: {hosts} hosts x {days} days, seed {seed}: {st['events']:,} records "
        f"({st['windows_events']:,} Windows, {st['zeek_records']:,} Zeek) in {elapsed:.1f}s "
        f"({st['events'] / max(elapsed, 1e-6):,.0f}/s)",
        highlight=False,
    )
    console.print(
        f"patient zero {doc['patient_zero'] or '-'}; {len(doc['infections'])} infected, "
        f"{len(doc['attacked'])} attacked, {len(doc['lockouts'])} lockouts; "
        f"{len(doc['attack_event_ids']):,} attack records; written to {out}",
        highlight=False,
    )
