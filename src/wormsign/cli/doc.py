"""docs/cli.md's command reference, written from the command tree itself so that it cannot drift.

``python -m wormsign.cli.doc`` rewrites the generated part of docs/cli.md (between the two
markers below); ``--check`` exits 1 when it is out of date (tests/cli/test_cli_doc.py does the same).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

from typing import Any

import typer.main

BEGIN = "<!-- BEGIN GENERATED: python -m wormsign.cli.doc -->"
END = "<!-- END GENERATED -->"
DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def commands() -> Iterator[tuple[str, Any]]:
    """Every command of the tree as (``wormsign ...`` path, command), the root first, in name order."""
    from wormsign.cli import app

    def walk(path: str, cmd: Any) -> Iterator[tuple[str, Any]]:
        yield path, cmd
        subs = getattr(cmd, "commands", {})
        for name in sorted(subs):
            yield from walk(f"{path} {name}", subs[name])

    yield from walk("wormsign", typer.main.get_command(app))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(cmd: Any, ctx: Any) -> list[tuple[str, str]]:
    """(names and value, help) of each argument and option, as ``--help`` gives them."""
    rows = []
    for p in cmd.get_params(ctx):
        if getattr(p, "hidden", False):
            continue
        if p.param_type_name == "argument":
            name = (p.name or "").upper() + (" ..." if p.nargs == -1 else "")
            rows.append((name, (getattr(p, "help", None) or "") + ("" if p.required else "  [optional]")))
        else:
            record = p.get_help_record(ctx)
            if record:
                rows.append(record)
    return rows


def render() -> str:
    """The reference: each command's usage, description, arguments and options."""
    out: list[str] = []
    for path, cmd in commands():
        ctx = cmd.make_context(path, [], resilient_parsing=True)
        out.append(f"### `{path}`\n")
        out.append(f"```\n{path} {' '.join(cmd.collect_usage_pieces(ctx))}\n```\n")
        if cmd.help:
            out.append(inspect.cleandoc(cmd.help).split("\f")[0].strip() + "\n")
        rows = _rows(cmd, ctx)
        if rows:
            out.append("| argument or option | meaning |")
            out.append("|---|---|")
            out.extend(f"| `{_cell(names)}` | {_cell(helptext)} |" for names, helptext in rows)
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def current(text: str) -> str:
    """``text`` (docs/cli.md) with its generated part rendered anew."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = current(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} is out of date: run python -m wormsign.cli.doc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
