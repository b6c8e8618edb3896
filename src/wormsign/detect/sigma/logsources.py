"""Sigma log sources on the case: a pySigma pipeline that adds the log source as a condition.

Design: every event of the case is tagged, in the ``sigma_events`` table, with the Sigma
categories and services it belongs to (``wormsign_category``, ``wormsign_service``: text like
``|process_creation|``), looked up from its channel and EventID in ``logsources.yaml``. The
processing pipeline adds ``wormsign_category: '*|<category>|*'`` (and the same for the service)
to each rule, so the backend writes the log source into the rule's SQL like any other
condition. A category may span channels (process_creation is Sysmon 1 or Security 4688),
which plain ``Channel``/``EventID`` conditions could not say.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # pySigma is imported to compile rules (and read its tables), not to run them
    from sigma.processing.pipeline import ProcessingPipeline
    from sigma.rule import SigmaLogSource

HERE = Path(__file__).resolve().parent
CATEGORY_FIELD = "wormsign_category"
SERVICE_FIELD = "wormsign_service"


@dataclass(frozen=True, slots=True)
class Logsources:
    """The log source tables: products, service -> channels, category -> (channel, id) pairs."""

    products: frozenset[str]
    services: dict[str, tuple[str, ...]]
    categories: dict[str, tuple[tuple[str, str], ...]]

    def unsupported(self, ls: SigmaLogSource) -> str | None:
        """Why a rule's log source cannot be matched on the case, or None when it can."""
        if ls.product and ls.product.lower() not in self.products:
            return f"unsupported logsource product {ls.product!r}"
        if ls.category and ls.category.lower() not in self.categories:
            return f"unsupported logsource category {ls.category!r}"
        if ls.service and ls.service.lower() not in self.services:
            return f"unsupported logsource service {ls.service!r}"
        if not (ls.product or ls.category or ls.service):
            return "rule has no logsource"
        return None

    def pipeline(self) -> ProcessingPipeline:
        """The pySigma pipeline that adds each log source as a condition on the tag columns."""
        from sigma.processing.conditions import LogsourceCondition
        from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
        from sigma.processing.transformations import AddConditionTransformation

        items: list[ProcessingItem] = []
        for cat in sorted(self.categories):
            items.append(
                ProcessingItem(
                    identifier=f"wormsign_category_{cat}",
                    transformation=AddConditionTransformation({CATEGORY_FIELD: f"*|{cat}|*"}),
                    rule_conditions=[LogsourceCondition(category=cat)],
                )
            )
        for svc in sorted(self.services):
            items.append(
                ProcessingItem(
                    identifier=f"wormsign_service_{svc}",
                    transformation=AddConditionTransformation({SERVICE_FIELD: f"*|{svc}|*"}),
                    rule_conditions=[LogsourceCondition(service=svc)],
                )
            )
        return ProcessingPipeline(name="wormsign log sources", priority=20, items=items)

    def to_json(self) -> dict[str, Any]:
        """The tables as data (kept in the compiled rule set, so that a run reads them without pySigma)."""
        return {"products": sorted(self.products), "services": {k: list(v) for k, v in self.services.items()},
                "categories": {k: [list(p) for p in v] for k, v in self.categories.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Logsources:
        return cls(frozenset(d["products"]), {k: tuple(v) for k, v in d["services"].items()},
                   {k: tuple((str(c), str(i)) for c, i in v) for k, v in d["categories"].items()})

    def category_rows(self) -> list[tuple[str, str, str]]:
        """(lower-case channel, EventID, '|cat|cat|') for the lookup table."""
        tags: dict[tuple[str, str], list[str]] = {}
        for cat, pairs in self.categories.items():
            for channel, code in pairs:
                tags.setdefault((channel.lower(), code), []).append(cat)
        return [(ch, code, "|" + "|".join(sorted(cats)) + "|") for (ch, code), cats in sorted(tags.items())]

    def service_rows(self) -> list[tuple[str, str]]:
        """(lower-case channel, '|svc|svc|') for the lookup table."""
        tags: dict[str, list[str]] = {}
        for svc, channels in self.services.items():
            for ch in channels:
                tags.setdefault(ch.lower(), []).append(svc)
        return [(ch, "|" + "|".join(sorted(svcs)) + "|") for ch, svcs in sorted(tags.items())]


def _as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


@cache
def load(path: str | None = None) -> Logsources:
    """Read ``logsources.yaml`` (or ``path``) over pySigma's service -> channel table."""
    from sigma.pipelines.common import windows_logsource_mapping

    p = Path(path) if path else HERE / "logsources.yaml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping")
    services = {k.lower(): tuple(_as_list(v)) for k, v in windows_logsource_mapping.items()}
    services.update({k.lower(): tuple(_as_list(v)) for k, v in (data.get("channels") or {}).items()})
    categories: dict[str, tuple[tuple[str, str], ...]] = {}
    for cat, entries in (data.get("categories") or {}).items():
        pairs: list[tuple[str, str]] = []
        for e in entries:
            svc = str(e["channel"]).lower()
            if svc not in services:
                raise ValueError(f"{p}: category {cat}: unknown channel {svc!r}")
            pairs += [(ch, str(int(i))) for ch in services[svc] for i in e["ids"]]
        categories[str(cat).lower()] = tuple(pairs)
    products = frozenset(str(x).lower() for x in data.get("products") or ["windows"])
    return Logsources(products, services, categories)
