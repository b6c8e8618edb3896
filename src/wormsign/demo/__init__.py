"""The bundled demo outbreak: a small emotet-qakbot run the simulator makes with a fixed seed.

``path()`` is its directory: ``logs/`` (Winlogbeat NDJSON and Zeek logs, what to ingest),
``feeds/`` (threat intel) and ``truth.json``. ``build(out)`` makes it again, byte for byte.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

SCENARIO = "emotet-qakbot"
HOSTS = 40
DAYS = 1
SEED = 6
ATTACK_AT = 9.5  # hours after the start: mid-morning on Monday 2026-03-02
LEVEL = 9  # gzip level: the demo ships in the package


def path() -> Path:
    """The directory of the bundled demo outbreak."""
    return Path(__file__).resolve().with_name("data")


def logs() -> Path:
    """The telemetry of the demo (give this to ``wormsign ingest``)."""
    return path() / "logs"


def truth() -> dict[str, Any]:
    """The demo's truth.json."""
    with open(path() / "truth.json", encoding="utf-8") as fh:
        return json.load(fh)


def build(out: str | Path) -> dict[str, Any]:
    """Generate the demo into ``out`` (replacing what is there); returns its truth."""
    from wormsign.simulate import simulate

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    return simulate(SCENARIO, HOSTS, DAYS, SEED, out, attack_at=ATTACK_AT, compresslevel=LEVEL)

