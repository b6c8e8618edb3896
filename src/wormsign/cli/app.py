"""The typer application every command module registers on."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

app = typer.Typer(
    name="wormsign",
    help="Find network worms in Windows, Sysmon, Zeek and EDR telemetry, and show how the outbreak spread.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console(emoji=False)
err = Console(stderr=True, emoji=False)

#: Exit statuses (docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1  # the run failed: bad arguments, unreadable case, --strict stop
EXIT_REJECTS = 3  # the run finished, but some records were rejected (counted in the output)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every rejected record.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
