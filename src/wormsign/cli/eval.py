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
from wormsign.text import printable

# wormsign.eval (the suite, and with it ingest, pyarrow and pandas) is imported by the command
# when it runs, not with the command line: every other command would pay for it at start-up.


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
    from wormsign.eval import load_incidents, load_truth, score
    from wormsign.eval import table as tab

    s = score(load_truth(truth), load_incidents(incidents))
    t = Table(title=escape(f"eval: {s.scenario} seed {s.seed}, {s.hosts} hosts x {s.days:g} days"))
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("detail")
    t.add_row("recall (infected hosts)", tab.ratio(s.recall),
              f"{s.true_positives} of {s.true_infected} found")
    t.add_row("precision", tab.ratio(s.precision), f"{len(s.extra)} of {s.found_infected} not infected")
    t.add_row("infector right", tab.ratio(s.infector_accuracy), f"{s.infectors_right} of {s.true_infected}")
    t.add_row("patient zero right", {None: "—", True: "yes", False: "no"}[s.patient_zero_right],
              escape(f"truth {s.patient_zero_true or '—'}, found {s.patient_zero_found or '—'}"))
    t.add_row("first spread to first alert", tab.secs(s.time_to_first_alert_s),
              escape(f"{s.first_spread or '—'} -> {s.first_alert or '—'}"))
    t.add_row("false outbreaks / 10k host-days", tab.rate(s.false_incidents_per_10k_host_days),
              f"{s.false_incidents} of {s.outbreak_incidents} outbreak incidents hold no infected host")
    t.add_row("incidents read", str(s.incidents),
              ", ".join(f"{n} {sev}" for sev, n in s.incidents_by_severity.items()))
    t.add_row("false highs / 10k host-days", tab.rate(s.false_highs_per_10k_host_days),
              f"{s.false_highs} of {s.high_incidents} high or critical incidents name no host of the truth")
    t.add_row("lockouts attributed right", tab.ratio(s.lockout_attribution),
              f"{s.lockouts_right} of {s.true_lockouts} ({s.lockouts_matched} matched)")
    console.print(t)
    if s.missed:
        console.print(f"missed: {printable(', '.join(s.missed[:20]))}{' ...' if len(s.missed) > 20 else ''}",
                      highlight=False, markup=False)
    if out:
        _write(out, s.to_dict())
    for inc in s.false_high_incidents[:20]:
        line = f"false high: {inc.get('id')} {inc.get('severity')} {inc.get('type')}: {inc.get('title')}"
        console.print(printable(line), highlight=False, markup=False)
    if len(s.false_high_incidents) > 20:
        console.print(f"... and {len(s.false_high_incidents) - 20} more false highs", highlight=False)


def _suite_table(result: dict[str, Any]) -> Table:
    from wormsign.eval import table as tab

    t = Table(title=f"eval suite: {len(result['runs'])} runs, {result['days']:g} days each",
              caption=tab.CAPTION)
    for i, col in enumerate(tab.headers(result)):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for cells in tab.rows(result):
        if cells[0] == "overall":
            t.add_section()
        t.add_row(*(escape(c) for c in cells))
    return t


def _print_table(result: dict[str, Any], md: bool) -> None:
    from wormsign.eval import table as tab

    if md:
        console.print(tab.markdown(result), highlight=False, markup=False, soft_wrap=True, end="")
        return
    # piped output is wide enough for every column (a terminal keeps its own width)
    (console if console.is_terminal else Console(width=200, highlight=False)).print(_suite_table(result))


def _show(path: Path, md: bool) -> None:
    """Print the table of a suite.json written earlier (``--table``)."""
    from wormsign.eval import EvalError

    try:
        result = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise EvalError(f"{path}: cannot read the suite file ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError:
        result = None
    summary = result.get("summary") if isinstance(result, dict) else None
    if not (isinstance(summary, dict) and isinstance(summary.get("scenarios"), dict)
            and isinstance(result.get("runs"), list)):
        raise EvalError(f"{path}: not a suite.json written by wormsign eval --suite")
    _print_table(result, md)


def _suite(scenarios: str | None, seeds: str | None, sizes: str | None, days: float,
           out: Path, json_out: Path | None, workers: int, benign_volume: float | None = None,
           md: bool = False) -> int:
    from wormsign.eval import Run, run_suite
    from wormsign.eval.docs import settings
    from wormsign.eval.suite import load_hunt, load_simulator

    cfg = settings()["suite"]
    names = [s.strip() for s in scenarios.split(",") if s.strip()] if scenarios else cfg["scenarios"] or None
    seed_list = _ints(seeds, "--seeds") or list(cfg["seeds"])
    size_list = _ints(sizes, "--sizes") or list(cfg["sizes"])

    def on_run(run: Run, done: bool) -> None:
        if not done:
            err.print(f"[dim]{run.name}: simulate, ingest, hunt ...[/]", highlight=False)
        elif run.error:
            err.print(f"[red]{run.name} failed:[/] {run.error}", highlight=False, markup=True)

    load_simulator()  # the simulator and the hunt import here, before the first run
    load_hunt()
    result = run_suite(names, seed_list, size_list, int(days) if float(days).is_integer() else days,
                       out=out, workers=workers or None, on_run=on_run, benign_volume=benign_volume)
    _print_table(result, md)
    (err if md else console).print(f"wrote {out / 'suite.json'}", highlight=False)
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
    scenarios: str = typer.Option(None, "--scenarios",
                                  help="Suite: scenarios, comma-separated (default all)."),
    out: Path = typer.Option(Path("eval-suite"), "--out",
                             help="Suite: folder for suite.json and each run's files."),
    workers: int = typer.Option(0, "--workers", "-j", help="Suite: ingest processes (0: one per core)."),
    benign_volume: float = typer.Option(
        None, "--benign-volume", min=1.0, max=1000.0,
        help="Suite: the simulator's everyday background per host-day, as a multiple (default 1).",
    ),
    md: bool = typer.Option(False, "--markdown", help="Suite: print the table as Markdown (for the README)."),
    table: Path = typer.Option(None, "--table", help="Print the table of a suite.json written earlier."),
) -> None:
    """Score a hunt against the truth: recall and precision of infected hosts, infectors,
    patient zero, time from first spread to first alert, false outbreaks per 10k host-days,
    every incident by severity, false highs (high or critical incidents that name no host of
    the truth) per 10k host-days, and lockout attribution. With --suite, run every scenario x
    seed x size end to end, and say which scenarios meet the false-high floor (eval.yaml).
    With --table suite.json, print the table of an earlier suite (--markdown: as Markdown).

    Exit status: 0 scored; 1 a file could not be read or a suite run failed.
    """
    from wormsign.eval import EvalError
    from wormsign.eval.docs import settings

    try:
        if table is not None:
            _show(table, md)
            return
        if suite:
            code = _suite(scenarios, seeds, sizes, days or float(settings()["suite"]["days"]),
                          out, json_out, workers, benign_volume, md)
            if code:
                raise typer.Exit(code)
            return
        if truth is None or incidents is None:
            err.print("[red]error:[/] give --truth and --incidents, or --suite")
            raise typer.Exit(EXIT_ERROR)
        _one(truth, incidents, json_out)
    except EvalError as exc:
        err.print(f"error: {printable(exc)}", highlight=False, markup=False, style="red", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
