"""``wormsign sigma``: run Sigma rules (the in-house set and any given) on a case."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from wormsign.cli.app import EXIT_ERROR, app, console, err, plain


@app.command("sigma")
def sigma_cmd(
    case: Path = typer.Option(..., "--case", "-c", help="Case directory."),
    rules: list[Path] = typer.Option([], "--rules", "-r", help="Sigma rule file or folder (repeatable)."),
    no_builtin: bool = typer.Option(False, "--no-builtin", help="Do not run the in-house rule set."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the alerts here, one JSON object a line."
    ),
    show_skipped: bool = typer.Option(False, "--show-skipped", help="List every skipped rule and why."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) when any rule cannot be run."),
) -> None:
    """Run Sigma rules, single-event and correlation, on the events of a case."""
    from wormsign.detect.sigma import run_sigma
    from wormsign.store import Case

    if not case.exists():
        err.print(plain(f"no such case: {case}", style="red"), soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    for p in rules:
        if not p.exists():
            err.print(plain(f"no such rule file or folder: {p}", style="red"), soft_wrap=True)
            raise typer.Exit(EXIT_ERROR)
    with Case.open(str(case), read_only=True) as c:
        run = run_sigma(c, [str(p) for p in rules], builtin=not no_builtin)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(a, sort_keys=True) + "\n" for a in run.alerts)
    t = Table(title="Sigma rules that fired")
    for col, just in (
        ("rule", "left"),
        ("title", "left"),
        ("level", "left"),
        ("alerts", "right"),
        ("hits", "right"),
        ("hosts", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in run.fired():
        hosts = ", ".join(r["hosts"][:5]) + (f" +{len(r['hosts']) - 5}" if len(r["hosts"]) > 5 else "")
        t.add_row(
            *(plain(x) for x in (r["rule"], r["title"], r["severity"], r["alerts"], r["hits"], hosts))
        )
    console.print(t)
    console.print(
        f"{run.loaded} rules loaded, {run.converted} converted, {len(run.skipped)} skipped; "
        f"{len(run.alerts)} alerts" + (f" written to {out}" if out else ""),
        highlight=False,
        markup=False,
    )
    if run.truncated:
        console.print(plain(f"rules cut at the hit limit: {', '.join(run.truncated)}"))
    if run.skipped:
        reasons: dict[str, int] = {}
        for s in run.skipped:
            key = s["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        console.print(plain("skipped: " + "; ".join(f"{k} ({v})" for k, v in sorted(reasons.items()))))
        if show_skipped:
            st = Table(title="Skipped rules")
            for col in ("rule", "file", "reason"):
                st.add_column(col)
            for s in run.skipped:
                st.add_row(plain(s["rule"]), plain(s["file"]), plain(s["reason"]))
            console.print(st)
        if strict:
            first = run.skipped[0]
            err.print(plain(f"--strict: {first['file']}: rule {first['rule']}: {first['reason']}"))
            raise typer.Exit(EXIT_ERROR)
