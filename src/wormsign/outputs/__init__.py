"""Findings out: a hunted case's alerts and incidents in other tools' formats, and forwarded.

- :mod:`wormsign.outputs.ecs`: ECS alert documents (Elasticsearch, Kibana, any ECS consumer);
- :mod:`wormsign.outputs.timesketch`: Timesketch JSONL (alerts and the events behind them);
- :mod:`wormsign.outputs.timeline`: a Hayabusa-style CSV timeline of the evidence events;
- :mod:`wormsign.outputs.forward`: Elasticsearch ``_bulk``, Splunk HEC, syslog and webhooks,
  with retries and a record in the case of what each destination already has.

What the findings mean in those vocabularies (severity numbers, levels, tactics) is in
``settings.yaml`` beside this module.
"""

from __future__ import annotations

#: ``wormsign export --format`` values this package writes.
FORMATS = ("ecs", "timesketch", "timeline")


def export(case: object, fmt: str, out: str) -> int:
    """Write the hunt's findings of ``case`` as ``fmt`` (one of :data:`FORMATS`) to the file
    ``out``; return how many documents, lines or rows were written."""
    import json

    from wormsign.outputs import ecs, timeline, timesketch
    from wormsign.outputs.findings import Findings

    if fmt not in FORMATS:
        raise ValueError(f"unknown findings format {fmt!r}; known: {', '.join(FORMATS)}")
    findings = Findings.load(case)  # type: ignore[arg-type]
    if fmt == "timesketch":
        return timesketch.write(findings, case, out)
    if fmt == "timeline":
        return timeline.write(findings, case, out)
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for _key, doc in ecs.documents(findings):
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
            n += 1
    return n
