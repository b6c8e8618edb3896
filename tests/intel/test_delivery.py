"""Delivery chains: Emotet writes and starts Qakbot, or spawns it; the summary counts pairs."""

from __future__ import annotations

from pathlib import Path

from intel_cases import EMOTET, QAKBOT, event, known_rows, ref

from wormsign.ingest.base import rows_to_table
from wormsign.intel import attribute
from wormsign.intel.delivery import summary
from wormsign.intel.store import IntelStore
from wormsign.store import Case


def run(tmp_path: Path, rows: list, store: IntelStore):
    with Case.open(str(tmp_path / "c.duckdb")) as c:
        c.append_events(rows_to_table(rows))
        return attribute(c, store)


def test_emotet_writes_and_starts_qakbot(known_case: Case, store: IntelStore) -> None:
    (d,) = attribute(known_case, store).deliveries
    assert str(d) == "emotet delivered qakbot on host ws-01 at 2026-02-02T09:11:00Z"
    assert (d.method, d.ref, d.file) == ("write-start", ref("ws-01", 4), r"C:\ProgramData\qbot\qb.exe")
    assert d.evidence == sorted([ref("ws-01", 3), ref("ws-01", 4)])
    assert d.to_dict()["from_family"] == "emotet"


def test_spawn_without_a_file_write(tmp_path: Path, store: IntelStore) -> None:
    rows = [r for r in known_rows() if r["host"] == "ws-01" and r["src.record"] != 3]
    (d,) = run(tmp_path, rows, store).deliveries
    assert (d.method, d.from_family, d.to_family, d.evidence) == (
        "spawn",
        "emotet",
        "qakbot",
        [ref("ws-01", 4)],
    )


def test_written_file_hash_names_the_family_when_the_start_has_none(
    tmp_path: Path, store: IntelStore
) -> None:
    path = r"C:\Users\bob\AppData\Roaming\x.exe"
    rows = [
        event("ws-09", 0, "process", 1, **{"process.entity_id": "{E}", "process.hash.sha256": EMOTET}),
        event(
            "ws-09",
            1,
            "file",
            2,
            **{"process.entity_id": "{E}", "file.path": path, "file.hash.sha256": QAKBOT},
        ),
        event(
            "ws-09",
            2,
            "process",
            3,
            **{"process.entity_id": "{X}", "process.executable": path, "process.parent.entity_id": "{other}"},
        ),
    ]
    (d,) = run(tmp_path, rows, store).deliveries
    assert (d.host, d.method, d.ts.minute, d.evidence) == (
        "ws-09",
        "write-start",
        2,
        [ref("ws-09", 2), ref("ws-09", 3)],
    )


def test_no_delivery_when_started_before_written_or_same_family(tmp_path: Path, store: IntelStore) -> None:
    rows = known_rows()
    rows[2]["ts"], rows[3]["process.parent.entity_id"] = rows[4]["ts"], "{W1}"  # written after the start
    more = [
        event(
            "ws-02",
            32,
            "process",
            3,
            **{
                "process.entity_id": "{E3}",
                "process.hash.sha256": EMOTET,
                "process.parent.entity_id": "{E2}",
            },
        ),  # emotet spawning emotet is not a delivery
    ]
    assert run(tmp_path, rows + more, store).deliveries == []


def test_summary_counts_each_pair_once_per_host(tmp_path: Path, store: IntelStore) -> None:
    rows = known_rows()
    for host in ("ws-21", "ws-22"):
        rows += [
            event(host, 50, "process", 1, **{"process.entity_id": "{E}", "process.hash.sha256": EMOTET}),
            event(
                host,
                51,
                "process",
                2,
                **{
                    "process.entity_id": "{Q}",
                    "process.hash.sha256": QAKBOT,
                    "process.parent.entity_id": "{E}",
                },
            ),
            event(
                host,
                52,
                "process",
                3,
                **{
                    "process.entity_id": "{Q2}",
                    "process.hash.sha256": QAKBOT,
                    "process.parent.entity_id": "{E}",
                },
            ),
        ]
    attr = run(tmp_path, rows, store)
    assert [(d.host, d.method) for d in attr.deliveries] == [
        ("ws-01", "write-start"),
        ("ws-21", "spawn"),
        ("ws-22", "spawn"),
    ]
    assert attr.delivery_summary() == {("emotet", "qakbot"): 3}
    (s,) = summary(attr.deliveries)
    assert (s["count"], s["hosts"], s["first"]) == (3, ["ws-01", "ws-21", "ws-22"], "2026-02-02T09:11:00Z")
