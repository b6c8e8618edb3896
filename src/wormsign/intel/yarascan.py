"""``wormsign scan``: run the user's YARA rules over collected files; hits become hash indicators.

A rule's ``family`` metadata (or, without it, the rule's name) names the family. Each hit
file's SHA-256 and MD5 go into the intel store with source ``yara:<rules file>:<rule>``,
so later matching attributes the hosts where that file ran or was written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yara

from wormsign.intel.importer import FileRefused, read_limited
from wormsign.intel.indicators import Indicator, IndicatorError, bound, config, family, make

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yar", ".yara")


class RulesError(Exception):
    """The rules folder holds no rules, or a rule file does not compile (the message names it)."""


@dataclass(slots=True)
class Hit:
    """One file that one rule matched."""

    path: str
    rule: str
    namespace: str
    family: str
    sha256: str
    md5: str
    size: int


@dataclass(slots=True)
class ScanReport:
    """Files scanned, hits, and files skipped (too large, unreadable), with reasons."""

    scanned: int = 0
    hits: list[Hit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def indicators(self) -> list[Indicator]:
        """The hash indicators of every hit (SHA-256 and MD5)."""
        out: list[Indicator] = []
        for h in self.hits:
            src = f"yara:{h.namespace}:{h.rule}"
            for t, v in (("sha256", h.sha256), ("md5", h.md5)):
                try:
                    out.append(make(t, v, family=h.family, source=src))
                except IndicatorError as exc:  # an unusable family name in a rule's metadata
                    log.warning("%s: %s", h.path, exc)
        return out

    def families(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hits:
            out[h.family] = out.get(h.family, 0) + 1
        return dict(sorted(out.items()))


def compile_rules(rules_dir: str) -> yara.Rules:
    """Compile every ``*.yar``/``*.yara`` under a folder (or one rules file), one namespace per file."""
    root = Path(rules_dir)
    if root.is_file():
        files, root = [root], root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file())
    else:
        raise RulesError(f"{rules_dir}: no such folder of YARA rules")
    if not files:
        raise RulesError(f"{rules_dir}: no .yar or .yara files")
    sources: dict[str, str] = {}
    for p in files:
        ns = str(p.relative_to(root))
        try:
            yara.compile(filepath=str(p))  # one at a time, so the error names the file
        except yara.SyntaxError as exc:
            raise RulesError(f"{p}: {exc}") from None
        sources[ns] = str(p)
    return yara.compile(filepaths=sources)


def _files(paths: list[str], report: ScanReport) -> Iterator[str]:
    for p in paths:
        if os.path.isdir(p):
            for dirpath, _dirs, names in os.walk(p):
                for n in sorted(names):
                    yield os.path.join(dirpath, n)
        elif os.path.lexists(p):
            yield p  # not a regular file (FIFO, device): named and skipped when read
        else:
            report.skipped.append((p, "no such file"))


def _family(match: yara.Match) -> str:
    meta = match.meta or {}
    name = bound(meta.get("family") or meta.get("malware_family")) or match.rule
    return family(str(name)) or match.rule


def scan(paths: list[str], rules: yara.Rules) -> ScanReport:
    """Scan files and folders (walked); files above the size limit are skipped and counted."""
    report = ScanReport()
    limit = int(config()["limits"]["max_scan_bytes"])
    for path in _files(paths, report):
        try:
            data = read_limited(path, limit)
            matches = rules.match(data=data, timeout=60)
        except FileRefused as exc:
            report.skipped.append((path, str(exc)))
            continue
        except OSError as exc:
            report.skipped.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        except yara.Error as exc:
            report.skipped.append((path, str(exc)[:300]))
            continue
        size = len(data)
        report.scanned += 1
        if not matches:
            continue
        sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()
        for m in matches:
            report.hits.append(Hit(path, m.rule, m.namespace, _family(m), sha, md5, size))
    return report
