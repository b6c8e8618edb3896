"""Rich tables for the intel commands: every value from a feed or a case is shown as text, never as markup."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from wormsign.intel.attribution import Attribution
from wormsign.intel.indicators import Indicator
from wormsign.text import printable


def _cells(*values: Any) -> list[Text]:
    """Table cells as plain text: rich would read ``[/x]`` in a str cell as markup (and fail on it)."""
    return [Text(printable(v)) for v in values]


def _esc(value: Any) -> str:
    """Feed or case text inside a line of rich markup: control characters escaped, then markup."""
    return escape(printable(value))


def indicators_table(title: str, inds: list[Indicator]) -> Table:
    t = Table(title=Text(printable(title)))
    t.add_column("type")
    t.add_column("value", overflow="fold", min_width=21)  # values are copied: fold, never cut
    for col in ("first seen", "last seen", "source"):
        t.add_column(col)
    for i in inds:
        t.add_row(*_cells(i.type, i.value, i.first_seen or "", i.last_seen or "", i.source))
    return t


def summary_table(title: str, rows: list[tuple[str, str, int, Any, Any]]) -> Table:
    t = Table(title=Text(printable(title)))
    for col in ("family", "type", "indicators", "first seen", "last seen"):
        t.add_column(col, justify="right" if col == "indicators" else "left")
    for fam, typ, n, first, last in rows:
        t.add_row(*_cells(fam, typ, f"{n:,}", first or "", last or ""))
    return t


def overlap_table(rep: Any) -> Table:
    dims = list(next(iter(rep.sizes.values()), {}).keys())
    t = Table(title=Text(f"C2 overlap by {rep.by} (Jaccard)"))
    t.add_column(Text(printable(rep.by)))
    t.add_column(Text(printable(rep.by)))
    for d in dims:
        t.add_column(Text(printable(d)), justify="right")
    t.add_column("shared")
    for p in rep.pairs:
        shared = "; ".join(f"{d}: {', '.join(v[:5])}" for d, v in p.shared.items())
        t.add_row(*_cells(p.a, p.b, *(f"{p.jaccard[d]:.2f}" for d in dims), shared or "none"))
    return t


def overlap_lines(rep: Any) -> list[str]:
    """Whether anything is shared, and the clusters of more than one group (rich markup, escaped)."""
    lines = (
        []
        if any(p.linked for p in rep.pairs)
        else ["[green]No shared infrastructure[/] between any two groups."]
    )
    lines += [f"cluster sharing infrastructure: {_esc(', '.join(c))}" for c in rep.clusters if len(c) > 1]
    return lines


def hosts_table(attr: Attribution) -> Table:
    t = Table(title="Families per host")
    for col in ("host", "family", "confidence", "first seen", "matched by"):
        t.add_column(col)
    for host, fams in sorted(attr.hosts.items()):
        for f in fams:
            matched = ", ".join(f"{k} x{n}" for k, n in sorted(f.matches.items()))
            t.add_row(*_cells(host, f.family, f"{f.confidence:.2f}", f.first_seen, matched))
    return t


def attribution_lines(attr: Attribution) -> list[str]:
    """C2 contacted per family, each delivery, deliveries per pair (rich markup, escaped)."""
    lines = []
    for fam, cs in sorted(attr.c2.items()):
        addrs = ", ".join(f"{c.address}:{c.port}" if c.port else c.address for c in cs[:20])
        lines.append(f"C2 of {_esc(fam)} contacted: {_esc(addrs)}")
    lines += [_esc(str(d)) for d in attr.deliveries]
    lines += [f"{_esc(a)} -> {_esc(b)}: {n} deliveries" for (a, b), n in attr.delivery_summary().items()]
    return lines or ["No host matched the intel."]
