"""The ``wormsign`` command line. Each command lives in its own module and registers on ``app``."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from wormsign.cli import eval as _eval  # noqa: F401  (registers eval)
from wormsign.cli import forward as _forward  # noqa: F401  (registers forward)
from wormsign.cli import hunt as _hunt  # noqa: F401  (registers hunt)
from wormsign.cli import ingest as _ingest  # noqa: F401  (registers ingest, stats)
from wormsign.cli import intel as _intel  # noqa: F401  (registers intel, scan)
from wormsign.cli import report as _report  # noqa: F401  (registers report, serve, export)
from wormsign.cli import sigma as _sigma  # noqa: F401  (registers sigma)
from wormsign.cli import simulate as _simulate  # noqa: F401  (registers simulate)
from wormsign.cli.app import app
from wormsign.text import printable


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """An uncaught error's traceback with the data's control characters escaped (it may quote a name)."""
    text = "".join(traceback.format_exception(kind, exc, tb))
    sys.stderr.write("\n".join(printable(line) for line in text.split("\n")))


def main() -> None:
    sys.excepthook = _excepthook
    app()


__all__ = ["app", "main"]
