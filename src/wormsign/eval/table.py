"""The suite's table as plain cells: printed by the CLI, or as Markdown to paste into the README."""

from __future__ import annotations

from typing import Any

from wormsign.eval.docs import settings

CAPTION = (
    "pooled over runs; alert time: median, negative = alerted before the first spread "
    "(alerted runs / runs with a spread); false outbreaks: outbreak incidents with no truly infected "
    "host; crit/high/med/low per run: every incident a responder reads, by severity; false highs: high "
    "or critical incidents none of whose hosts is in the truth; h-d: host-days; (n): the count; "
    "≤ 1 false high: the floor (eval.yaml), yes or NO for the scenarios it applies to; — = not applicable"
)
FALSE_HIGHS = "false_highs_per_10k_host_days"


def ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def rate(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def secs(v: float | None) -> str:
    if v is None:
        return "—"
    sign, v = ("-" if v < 0 else ""), abs(v)
    if v < 120:
        return f"{sign}{v:.0f}s"
    if v < 7200:
        return f"{sign}{v / 60:.1f}m"
    return f"{sign}{v / 3600:.1f}h"


def _severities() -> list[str]:
    return [str(v).lower() for v in settings()["severities"]]


def _floor(result: dict[str, Any]) -> dict[str, Any]:
    floors = result["summary"].get("floors") or {}
    default = {"max": float(settings()["floors"][FALSE_HIGHS]["max"]), "scenarios": {}}
    return floors.get(FALSE_HIGHS) or default


def headers(result: dict[str, Any]) -> list[str]:
    """The column names of :func:`rows`, in order."""
    short = {"critical": "crit", "medium": "med"}
    return ["scenario", "runs", "recall", "precision", "infector", "patient zero", "1st alert after spread",
            "false outbreaks /10k h-d", *(f"{short.get(s, s)}/run" for s in _severities()),
            "false highs /10k h-d", f"≤ {_floor(result)['max']:g} false high", "lockouts", "errors"]


def rows(result: dict[str, Any]) -> list[list[str]]:
    """One row of cells per scenario of a suite result (suite.json), then ``overall``. The floor
    cell is ``yes`` / ``NO`` for the scenarios the floor names, ``—`` elsewhere."""
    errors: dict[str, int] = {}
    for r in result["runs"]:
        errors[r["scenario"]] = errors.get(r["scenario"], 0) + bool(r["error"])
    verdicts = _floor(result)["scenarios"]
    out = []
    summary = result["summary"]
    for name, p in [*summary["scenarios"].items(), ("overall", summary["overall"])]:
        per_run = p.get("incidents_per_run_by_severity") or {}
        met = verdicts.get(name) if name != "overall" else None
        if name == "overall":  # a scenario none of whose runs was scored: its errors, nothing else
            out += [[n, "0", *["—"] * (len(headers(result)) - 3), str(k)]
                    for n, k in errors.items() if n not in summary["scenarios"]]
        out.append([
            name, str(p["runs"]), ratio(p["recall"]), ratio(p["precision"]), ratio(p["infector_accuracy"]),
            ratio(p["patient_zero_rate"]),
            secs(p["time_to_first_alert_s"])
            + (f" ({p['alerted']}/{p['spread_runs']})" if p["spread_runs"] else ""),
            f"{rate(p['false_incidents_per_10k_host_days'])} ({p['false_incidents']})",
            *(rate(per_run.get(s)) for s in _severities()),
            f"{rate(p.get(FALSE_HIGHS))} ({p.get('false_highs', 0)})",
            {None: "—", True: "yes", False: "NO"}[met],
            ratio(p["lockout_attribution"]),
            str(result["errors"] if name == "overall" else errors.get(name, 0)),
        ])
    return out


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown(result: dict[str, Any]) -> str:
    """The suite table in GitHub Markdown, with a line that says how it was made."""
    head = headers(result)
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for cells in rows(result):
        if cells[0] == "overall":
            cells = [f"**{cells[0]}**", *cells[1:]]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    sizes = sorted({r["hosts"] for r in result["runs"]})
    seeds = sorted({r["seed"] for r in result["runs"]})
    lines += ["", f"{len(result['runs'])} runs: seeds {', '.join(map(str, seeds))}; "
              f"{', '.join(map(str, sizes))} hosts; {result['days']:g} days each. {CAPTION}."]
    return "\n".join(lines) + "\n"
