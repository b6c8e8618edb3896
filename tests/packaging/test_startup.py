"""What the command line loads at start: every command is defined (``--help`` lists them all), but
the heavy libraries (pyarrow, pandas, DuckDB, FastAPI) and the modules that need them are loaded
by the commands that use them, when they run. ``wormsign --version`` took 0.6 CPU-s with them."""

from __future__ import annotations

import json
import subprocess
import sys

from wormsign.cli.app import DEFAULT_WAIT as CLI_WAIT
from wormsign.cli.intel import DEFAULT_PATH as CLI_INTEL_PATH
from wormsign.intel.store import DEFAULT_PATH
from wormsign.store import DEFAULT_WAIT

HEAVY = ("pyarrow", "pandas", "numpy", "duckdb", "fastapi", "networkx", "wormsign.store",
         "wormsign.ingest", "wormsign.eval", "wormsign.hunt", "wormsign.intel")


def _loaded(code: str) -> list[str]:
    """The modules of HEAVY a fresh interpreter holds after ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout.strip().splitlines()[-1]))


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    assert _loaded("import wormsign.cli") == []


def test_help_lists_every_command_without_loading_them() -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom wormsign.cli import app\n"
            "out = CliRunner().invoke(app, ['--help']).output\n"
            "assert all(c in out for c in ('ingest', 'hunt', 'eval', 'intel', 'report', 'serve', 'sigma',"
            " 'simulate', 'stats')), out\n"
            "out = CliRunner().invoke(app, ['hunt', '--help']).output\nassert '--sigma' in out, out")
    assert _loaded(code) == []


def test_the_hunts_publication_does_not_load_the_web_server() -> None:
    # a hunt tells a running server about its results (wormsign.api.published): FastAPI is the
    # server's, not the hunt's
    assert "fastapi" not in _loaded("import wormsign.api.published")
    assert "fastapi" in _loaded("from wormsign.api import create_app")


def test_the_command_lines_defaults_are_the_libraries() -> None:
    # named in the command line without importing the modules that define them
    assert CLI_WAIT == DEFAULT_WAIT
    assert CLI_INTEL_PATH == DEFAULT_PATH
