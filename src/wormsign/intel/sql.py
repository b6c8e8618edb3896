"""SQL pieces the intel matchers share (:mod:`wormsign.intel.match`, :mod:`wormsign.intel.delivery`)."""

from __future__ import annotations

#: The evidence reference of an event row aliased ``{a}``: ``digest:record`` (docs/formats.md).
REF = """("{a}"."src.digest" || ':' || CAST("{a}"."src.record" AS VARCHAR))"""
