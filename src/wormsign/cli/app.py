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

def wait_option() -> Any:
    """``--wait SECONDS``: how long a command waits for a case another process holds."""
    from wormsign.store import DEFAULT_WAIT

    return typer.Option(
        DEFAULT_WAIT, "--wait", min=0.0, help="Seconds to wait while another process holds the case."
    )


def open_case(path: Any, *, read_only: bool = False, wait: float = 0.0) -> Any:
    """``Case.open``, with a case another process holds (after ``wait`` seconds) told in one line
    that names the case and that process, and exit status 1, never a traceback."""
    from wormsign.store import Case, CaseFormatError, CaseLocked

    try:
        return Case.open(str(path), read_only=read_only, wait=wait)
    except (CaseLocked, CaseFormatError) as e:
        err.print(f"[red]error:[/] {esc(e)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None


#: Exit statuses (docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1  # the run failed: bad arguments, unreadable case, --strict stop
EXIT_REJECTS = 3  # the run finished, but some records were rejected (counted in the output)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every rejected record.")) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, handlers=[handler])
