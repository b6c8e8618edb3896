"""Attacker-written text made safe to show: on a terminal, in a CSV cell, in an XML file.

wormsign prints and exports names an attacker chose (hosts, users, files, command lines). This
module is the one place that decides how such text is shown, so that every output does the same:

- :func:`printable` (terminal, CSV): every character Python does not call printable (C0 and C1
  controls with ESC, DEL, bidi overrides and isolates, zero-width and format characters, line and
  paragraph separators, spaces other than U+0020, unassigned code points) is written as its
  escape, ``\\x1b``, ``\\u202e``, ``\\U000e0001``. An undecodable byte of a file name (a surrogate
  escape) is written as the byte, ``\\xff``. Text with none of them is returned as is; a backslash
  is kept (Windows paths stay readable), so ``\\x1b`` in the output may also be those four
  characters in the data: the exact value is in the JSON outputs and the case.
- :func:`csv_cell`: :func:`printable`, and a leading ``'`` on a cell a spreadsheet would read as a
  formula (OWASP's CSV injection list, full-width forms too).
- :func:`xml_text`: only the characters XML 1.0 forbids (and the C1 range it discourages) are
  escaped, as above; all else stays exact, so that a GraphML file parses and node names match.

The module lives at the package top because the CLI, the report exports and the intel exports all
use it, and none of them should import another's package for it.
"""

from __future__ import annotations

import re
from typing import Any

#: First characters that make a spreadsheet read a cell as a formula (or the start of one).
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# XML 1.0 Char excludes C0 but tab/newline/CR, lone surrogates, U+FFFE and U+FFFF; C1 is discouraged.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(ch: str) -> str:
    n = ord(ch)
    if 0xDC80 <= n <= 0xDCFF:  # os.fsdecode's surrogate escape of one undecodable byte
        return f"\\x{n - 0xDC00:02x}"
    if n < 0x100:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{n:02x}")
    return f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def printable(value: Any) -> str:
    """``value`` as text a terminal shows and never obeys (``None`` is ``''``)."""
    s = "" if value is None else value if isinstance(value, str) else str(value)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else _escape(c) for c in s)


def csv_cell(value: Any) -> str:
    """A CSV cell: :func:`printable`, with a leading ``'`` when a spreadsheet would run it.

    Quotes already in front of a formula character count too, so that a reader who takes one
    ``'`` off gets the value back (``feeds.plain_list`` does).
    """
    raw = "" if value is None else str(value)
    s = printable(raw)
    if raw.lstrip("'").startswith(FORMULA_START) or s.lstrip("'").startswith(FORMULA_START):
        return "'" + s
    return s


def xml_text(value: Any) -> str:
    """``value`` with every character XML 1.0 forbids or discourages written as its escape."""
    s = "" if value is None else str(value)
    return _XML_BAD.sub(lambda m: _escape(m.group()), s)
