"""Small simulated runs shared by the simulator tests, and readers of what they wrote."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from wormsign.simulate import SCENARIOS, simulate

HOSTS, DAYS, SEED = 24, 1, 5


@dataclass
class Run:
    out: Path
    truth: dict[str, Any]
    docs: list[dict[str, Any]] = field(default_factory=list)  # Winlogbeat documents
    zeek: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # log -> rows

    @property
    def attack_ids(self) -> set[str]:
        return set(self.truth["attack_event_ids"])

    def attack_docs(self, code: str | None = None) -> list[dict[str, Any]]:
        ids = self.attack_ids
        return [d for d in self.docs if d["event"]["id"] in ids and (code is None or d["event"]["code"] == code)]


def read_zeek_tsv(path: Path) -> list[dict[str, str]]:
    rows, fields = [], []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


def load(out: Path, truth: dict[str, Any]) -> Run:
    run = Run(out, truth)
    for f in sorted((out / "logs" / "winlogbeat").glob("*.ndjson.gz")):
        with gzip.open(f, "rb") as fh:
            run.docs.extend(orjson.loads(line) for line in fh if line.strip())
    for f in sorted((out / "logs" / "zeek").glob("*/*.log.gz")):
        run.zeek.setdefault(f.name.split(".")[0], []).extend(read_zeek_tsv(f))
    return run


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every scenario once, at a small size."""
    out = {}
    for name in SCENARIOS:
        d = tmp_path_factory.mktemp(name)
        out[name] = load(d, simulate(name, HOSTS, DAYS, SEED, d, attack_at=9.0))
    return out
