"""``wormsign forward``: send a hunt's findings to Elasticsearch, Splunk, syslog and chat webhooks."""

from __future__ import annotations

from pathlib import Path

import typer

from wormsign.cli.app import (
    EXIT_ERROR,
    app,
    be_quiet,
    be_verbose,
    console,
    err,
    esc,
    json_option,
    open_case,
    print_json,
    quiet_option,
    wait_option,
)


@app.command()
def forward(
    ctx: typer.Context,
    case: Path = typer.Option(..., "--case", "-c", help="Case (directory) that a hunt has run on."),
    config: Path = typer.Option(..., "--config", help="Destinations file (YAML; the shape of outputs/forward.yaml)."),
    only: list[str] = typer.Option(None, "--only", help="Send to this destination only (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be sent; send and record nothing."),
    wait: float = wait_option(),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each batch taken and each try again."),
) -> None:
    """Send the last hunt's findings to the destinations of --config: ECS alerts to Elasticsearch
    (_bulk) and Splunk (HEC), RFC 5424 syslog (TCP or UDP), incidents to Slack- or Teams-compatible
    webhooks. Failures that may pass are tried again with a growing wait. The case records what
    each destination took, so a second run sends only what is new. Secrets come from the
    environment variables the file names, and are never printed.

    Exit status: 0 every destination took every new finding; 1 a destination failed (the others
    were still served), or the case or file could not be read."""
    from wormsign.outputs.forward import ConfigError, load_config
    from wormsign.outputs.forward import forward as run
    from wormsign.report import ViewError

    be_quiet(quiet)
    be_verbose(verbose, ctx)
    try:
        conf = load_config(config)
    except ConfigError as e:
        err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
    names = {d["name"] for d in conf.get("destinations") or []}
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        err.print(f"[red]error:[/] no destination named {esc(', '.join(unknown))} in {esc(config)}",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    with open_case(case, read_only=dry_run, wait=wait) as c:
        try:
            outcomes = run(c, conf, only=only or (), dry_run=dry_run)
        except ViewError as e:
            err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
    failed = [o for o in outcomes if o.error]
    if as_json:
        print_json({"case": str(case), "dry_run": dry_run, "destinations": [o.as_dict() for o in outcomes],
                    "exit_status": EXIT_ERROR if failed else 0})
    else:
        for o in outcomes:
            line = (f"{esc(o.name)} ({o.type}): {o.findings} findings, {o.already} sent before, "
                    f"{'would send' if dry_run else 'sent'} {o.findings - o.already if dry_run else o.sent}")
            if o.retried:
                line += f", {len(o.retried)} tries again"
            console.print(line, highlight=False, soft_wrap=True)
        for o in failed:
            err.print(f"[red]error:[/] {esc(o.name)}: {esc(o.error)} ({o.failed} not sent)",
                      highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_ERROR)
