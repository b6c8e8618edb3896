"""The ``wormsign`` command line. Each command lives in its own module and registers on ``app``."""

from __future__ import annotations

import gc
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


#: Python's cyclic collector, less often than CPython's default (700, 10, 10): a command allocates
#: millions of short-lived objects (records, rows, alerts) and few cycles, and on the 593 files of
#: hayabusa-sample-evtx, ``hunt --sigma`` spent 0.40-0.43 s of its 4.6 CPU-s in 697 collections,
#: 0.29-0.31 s of it in full ones, with the defaults; 0.07-0.10 s in 91 with these (bench/README.md).
GC_THRESHOLDS = (10_000, 50, 100)


def main() -> None:
    sys.excepthook = _excepthook
    # the modules imported so far live as long as the process: no collection needs to walk them
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    app()


__all__ = ["app", "main"]
