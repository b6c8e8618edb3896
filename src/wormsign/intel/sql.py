"""SQL pieces the intel matchers share (:mod:`wormsign.intel.match`, :mod:`wormsign.intel.delivery`)."""

from __future__ import annotations

#: The evidence reference of an event row aliased ``{a}``: ``digest:record`` (docs/formats.md).
REF = """("{a}"."src.digest" || ':' || CAST("{a}"."src.record" AS VARCHAR))"""

#: The columns of the events the indicator matches read (:mod:`wormsign.intel.match`) and the
#: deliveries between families (:mod:`wormsign.intel.delivery`); on Spark one keyed read of all
#: of them serves both passes.
KEYED_COLUMNS = ("host", "ts", "kind", "src.digest", "src.record", "process.entity_id", "process.parent.entity_id",
                 "process.executable", "destination.ip", "destination.port", "file.path", "url.full",
                 "process.hash.sha256", "process.hash.md5", "file.hash.sha256", "file.hash.md5", "dns.question.name",
                 "destination.domain", "dns.answers")
