"""``wormsign eval``: score a hunt against the simulator's truth, or run the whole suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wormsign.cli.app import EXIT_ERROR, app, console, err
from wormsign.eval import EvalError, Run, load_incidents, load_truth, run_suite, score
from wormsign.eval.docs import settings
from wormsign.eval.suite import load_hunt, load_simulator


def _r(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _secs(v: float | None) -> str:
    if v is None:
        return "—"
    sign, v = ("-" if v < 0 else ""), abs(v)
    if v < 120:
        return f"{sign}{v:.0f}s"
    if v < 7200:
        return f"{sign}{v / 60:.1f}m"
    return f"{sign}{v / 3600:.1f}h"


def _ints(text: str | None, what: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be integers separated by commas, not {text!r}") from None


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    console.print(f"wrote {path}", highlight=False)


def _one(truth: Path, incidents: Path, out: Path | None) -> None:
    s = score(load_truth(truth), load_incidents(incidents))
    t = Table(title=escape(f"eval: {s.scenario} seed {s.seed}, {s.hosts} hosts x {s.days:g} days"))
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("detail")
    t.add_row("recall (infected hosts)", _r(s.recall), f"{s.true_positives} of {s.true_infected} found")
    t.add_row("precision", _r(s.precision), f"{len(s.extra)} of {s.found_infected} not infected")
    t.add_row("infector right", _r(s.infector_accuracy), f"{s.infectors_right} of {s.true_infected}")
    t.add_row("patient zero right", {None: "—", True: "yes", False: "no"}[s.patient_zero_right],
              escape(f"truth {s.patient_zero_true or '—'}, found {s.patient_zero_found or '—'}"))
    t.add_row("first spread to first alert", _secs(s.time_to_first_alert_s),
              escape(f"{s.first_spread or '—'} -> {s.first_alert or '—'}"))
    t.add_row("false incidents / 10k host-days", _r(s.false_incidents_per_10k_host_days),
              f"{s.false_incidents} of {s.outbreak_incidents} outbreak incidents")
    t.add_row("lockouts attributed right", _r(s.lockout_attribution),
              f"{s.lockouts_right} of {s.true_lockouts} ({s.lockouts_matched} matched)")
    console.print(t)
    if s.missed:
        console.print(f"missed: {', '.join(s.missed[:20])}{' ...' if len(s.missed) > 20 else ''}",
                      highlight=False, markup=False)
    if out:
        _write(out, s.to_dict())


def _suite_table(result: dict[str, Any]) -> Table:
    t = Table(title=f"eval suite: {len(result['runs'])} runs, {result['days']:g} days each",
              caption="pooled over runs; alert time: median, negative = alerted before the first spread "
                      "(alerted runs / runs with a spread); — = not applicable")
    for col in ("scenario", "runs", "recall", "precision", "infector", "patient zero",
                "1st alert after spread", "false /10k host-days", "lockouts", "errors"):
        t.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=col == "scenario")
    errors: dict[str, int] = {}
    for r in result["runs"]:
        errors[r["scenario"]] = errors.get(r["scenario"], 0) + bool(r["error"])
    rows = list(result["summary"]["scenarios"].items()) + [("overall", result["summary"]["overall"])]
    for name, p in rows:
        if name == "overall":
            t.add_section()
        errs = result["errors"] if name == "overall" else errors.get(name, 0)
        t.add_row(
            escape(name), str(p["runs"]), _r(p["recall"]), _r(p["precision"]), _r(p["infector_accuracy"]),
            _r(p["patient_zero_rate"]),
            _secs(p["time_to_first_alert_s"]) + (f" ({p['alerted']}/{p['spread_runs']})" if p["spread_runs"] else ""),
            f"{_r(p['false_incidents_per_10k_host_days'])} ({p['false_incidents']})",
            _r(p["lockout_attribution"]), str(errs),
        )
    return t


def _suite(scenarios: str | None, seeds: str | None, sizes: str | None, days: float,
           out: Path, json_out: Path | None, workers: int, benign_volume: float | None = None) -> int:
    cfg = settings()["suite"]
    names = [s.strip() for s in scenarios.split(",") if s.strip()] if scenarios else cfg["scenarios"] or None
    seed_list = _ints(seeds, "--seeds") or list(cfg["seeds"])
    size_list = _ints(sizes, "--sizes") or list(cfg["sizes"])

    def on_run(run: Run, done: bool) -> None:
        if not done:
            err.print(f"[dim]{run.name}: simulate, ingest, hunt ...[/]", highlight=False)
        elif run.error:
            err.print(f"[red]{run.name} failed:[/] {run.error}", highlight=False, markup=True)

    load_simulator()  # a clear error first when the simulator is not there
    if load_hunt() is None:
        err.print("[yellow]warning:[/] the hunt (wormsign.hunt) is not there yet; "
                  "every run scores an empty incidents document (zero recall)")
    result = run_suite(names, seed_list, size_list, int(days) if float(days).is_integer() else days,
                       out=out, workers=workers or None, on_run=on_run, benign_volume=benign_volume)
    # piped output is wide enough for the ten columns (a terminal keeps its own width)
    (console if console.is_terminal else Console(width=130, highlight=False)).print(_suite_table(result))
    console.print(f"wrote {out / 'suite.json'}", highlight=False)
    if json_out:
        _write(json_out, result)
    return EXIT_ERROR if result["errors"] else 0


@app.command("eval")
def eval_command(
    truth: Path = typer.Option(None, "--truth", "-t", help="truth.json written by the simulator."),
    incidents: Path = typer.Option(None, "--incidents", "-i", help="incidents.json written by the hunt."),
    json_out: Path = typer.Option(None, "--json", help="Also write the scores as JSON here."),
    suite: bool = typer.Option(False, "--suite", help="Simulate, ingest, hunt and score every scenario."),
    seeds: str = typer.Option(None, "--seeds", help="Suite: seeds, comma-separated (default in eval.yaml)."),
    sizes: str = typer.Option(None, "--sizes", help="Suite: host counts, comma-separated."),
    days: float = typer.Option(None, "--days", help="Suite: days simulated per run."),
    scenarios: str = typer.Option(None, "--scenarios", help="Suite: scenarios, comma-separated (default all)."),
    out: Path = typer.Option(Path("eval-suite"), "--out", help="Suite: folder for suite.json and each run's files."),
    workers: int = typer.Option(0, "--workers", "-j", help="Suite: ingest processes (0: one per core)."),
    benign_volume: float = typer.Option(
        None, "--benign-volume", min=1.0, max=1000.0,
        help="Suite: the simulator's everyday background per host-day, as a multiple (default 1).",
    ),
) -> None:
    """Score a hunt against the truth: recall and precision of infected hosts, infectors,
    patient zero, time from first spread to first alert, false incidents per 10k host-days,
    and lockout attribution. With --suite, run every scenario x seed x size end to end.

    Exit status: 0 scored; 1 a file could not be read or a suite run failed.
    """
    try:
        if suite:
            code = _suite(scenarios, seeds, sizes, days or float(settings()["suite"]["days"]),
                          out, json_out, workers, benign_volume)
            if code:
                raise typer.Exit(code)
            return
        if truth is None or incidents is None:
            err.print("[red]error:[/] give --truth and --incidents, or --suite")
            raise typer.Exit(EXIT_ERROR)
        _one(truth, incidents, json_out)
    except EvalError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, style="red", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
