"""The typer application every command module registers on."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text

from wormsign.text import printable

app = typer.Typer(
    name="wormsign",
    help="Find network worms in Windows, Sysmon, Zeek and EDR telemetry, and show how the outbreak spread.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



class SafeConsole(Console):
    """A console that never sends a control character of the data to the terminal.

    Call sites show attacker-written text with :func:`plain` (escaped before layout, so tables
    line up). This is the net under them: any text segment that still holds a control character
    (rich's own cursor and colour codes are control segments and styles, not text) is escaped
    with the same :func:`~wormsign.text.printable`, line breaks kept.
    """

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for seg in super().render(renderable, options):
            if seg.control is None and not seg.text.isprintable() and seg.text != "\n":
                yield Segment("\n".join(printable(part) for part in seg.text.split("\n")), seg.style)
            else:
                yield seg


def plain(value: Any, style: str = "") -> Text:
    """Attacker-written text for the console: escaped (:func:`~wormsign.text.printable`), never markup."""
    return Text(printable(value), style=style)


def esc(value: Any) -> str:
    """Attacker-written text inside a line of rich markup: escaped, then its ``[`` made literal."""
    return escape(printable(value))


class SafeFormatter(logging.Formatter):
    """Log lines (a rejected record names its file and values) with the data's controls escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))  # a newline in the data forges no line

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))


console = SafeConsole(emoji=False)
err = SafeConsole(stderr=True, emoji=False)

#: ``wormsign.store.DEFAULT_WAIT`` (a test compares them), named here so that the options are
#: defined without importing the store (pyarrow, DuckDB) when the command line starts.
DEFAULT_WAIT = 10.0


def wait_option() -> Any:
    """``--wait SECONDS``: how long a command waits for a case another process holds."""
    return typer.Option(
        DEFAULT_WAIT, "--wait", min=0.0, help="Seconds to wait while another process holds the case."
    )


def open_case(path: Any, *, read_only: bool = False, wait: float = 0.0, engine: str = "duckdb",
              master: str | None = None) -> Any:
    """``Case.open``, with a case another process holds (after ``wait`` seconds) told in one line
    that names the case and that process, and exit status 1, never a traceback; so too a Spark
    engine that cannot start (pyspark or Java missing)."""
    from wormsign.engine.setup import open_case as open_for
    from wormsign.store import CaseFormatError, CaseLocked

    try:
        return open_for(str(path), read_only=read_only, wait=wait, engine=engine, master=master)
    except ImportError as e:
        err.print(f"[red]error:[/] the Spark engine needs the spark extra (pip install 'wormsign[spark]'): {esc(e)}",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
    except (CaseLocked, CaseFormatError) as e:
        err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None


#: Exit statuses (docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1  # the run failed: bad arguments, unreadable case, --strict stop
EXIT_REJECTS = 3  # the run finished, but some records were rejected (counted in the output)


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        from importlib.metadata import version as dist_version

        return dist_version("wormsign")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        from wormsign import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:  # eager: before the root callback resets a quiet console an earlier command left
        console.quiet = False
        console.print(f"wormsign {version()}", highlight=False, markup=False)
        raise typer.Exit(EXIT_OK)


def quiet_option() -> Any:
    """``--quiet``/``-q`` on a command: no summary, no progress bar; errors (and ``--json``) still print."""
    return typer.Option(False, "--quiet", "-q", help="Print nothing but errors (and the --json document).")


def json_option() -> Any:
    """``--json``: the command's summary as one JSON document on stdout, instead of the tables."""
    return typer.Option(False, "--json", help="Print the summary as one JSON document on stdout (no tables).")


def parse_time(value: str | None) -> Any:
    """An ISO 8601 time of ``--from``/``--to`` (``2024-05-01``, ``2024-05-01T10:00``,
    ``2024-05-01T10:00:00+02:00``, ``...Z``) as an aware datetime; UTC when it names no zone."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {printable(value)}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def from_option() -> Any:
    return typer.Option(None, "--from", metavar="TIME", callback=parse_time,
                        help="Only events at or after this ISO 8601 time (UTC when it names no zone).")


def to_option() -> Any:
    return typer.Option(None, "--to", metavar="TIME", callback=parse_time,
                        help="Only events before this ISO 8601 time (UTC when it names no zone).")


def be_verbose(verbose: bool, ctx: typer.Context) -> None:
    """``-v`` after a command: INFO log lines (every rejected record, each try again) for this
    command only; the level before it is put back when the command ends."""
    if not verbose:
        return
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    ctx.call_on_close(lambda: root.setLevel(before))


def be_quiet(quiet: bool) -> None:
    """Silence the summary console (errors go to ``err``, JSON to stdout directly)."""
    if quiet:
        console.quiet = True


def print_json(document: Any) -> None:
    """A machine-readable summary on stdout: one JSON document, whatever ``--quiet`` says.

    Values are data, not terminal text: JSON escapes every control character."""
    import json
    import sys

    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=True) + "\n")
    sys.stdout.flush()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every rejected record."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors (and --json documents)."),
    show_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Print the version and exit."),
) -> None:
    """Find network worms in Windows, Sysmon, Zeek and EDR telemetry, and show how the outbreak spread.

    Every command, option and exit status: docs/cli.md."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, handlers=[handler])
    console.quiet = quiet  # set on every run: the console outlives one command in tests
