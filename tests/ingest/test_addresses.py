"""One address, one spelling: every reader writes an address field as ``clean_ip`` does.

Windows writes one IPv6 address two ways (Security and WFP ``fe80::90e:17af:263c:5209``,
Sysmon ``fe80:0:0:0:90e:17af:263c:5209``) and every join on an address compares text, so at
ingest each is written in one form: IPv6 compressed and lower-case (RFC 5952), without a zone
id, IPv4-mapped as IPv4; IPv4 as it is, none with a leading zero or a number over 255.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from test_columnar import CORPUS, TAKEN, assert_same

from wormsign.ingest import jsonl, windows, zeek
from wormsign.ingest.base import clean_ip, host_key
from wormsign.ingest.columnar import t_ip

#: (as a log writes it, its one spelling or None where it is no address)
SPELLINGS: list[tuple[str, str | None]] = [
    ("10.0.2.17", "10.0.2.17"),
    (" 10.0.2.17 ", "10.0.2.17"),
    ("0.0.0.0", "0.0.0.0"),
    ("255.255.255.255", "255.255.255.255"),
    ("010.001.002.003", None),  # octal to inet_aton, decimal to a fixed-width log: not guessed
    ("10.0.2.017", None),
    ("256.1.1.1", None),
    ("10.0.2", None),
    ("\u0661\u0660.0.0.1", None),  # Arabic-Indic digits
    ("fe80::90e:17af:263c:5209", "fe80::90e:17af:263c:5209"),
    ("fe80:0:0:0:90e:17af:263c:5209", "fe80::90e:17af:263c:5209"),  # Sysmon 3
    ("FE80:0000:0000:0000:090E:17AF:263C:5209", "fe80::90e:17af:263c:5209"),
    ("fe80::90e:17af:263c:5209%12", "fe80::90e:17af:263c:5209"),  # a zone id
    ("fe80::1%eth0", "fe80::1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("::1", "::1"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # the longest run of zeros goes
    ("2001:500:84:0:0:0:0:b", "2001:500:84::b"),
    ("2001:db8::0:1", "2001:db8::1"),
    ("ff02:0:0:0:0:0:1:3", "ff02::1:3"),
    ("::ffff:10.1.2.3", "10.1.2.3"),  # IPv4-mapped: the IPv4 address
    ("::FFFF:10.1.2.3", "10.1.2.3"),
    ("0:0:0:0:0:ffff:a01:203", "10.1.2.3"),
    ("::", None),  # the unspecified address
    ("0:0:0:0:0:0:0:0", None),
    ("1:2", None),
    ("1:2:3:4:5:6:7:8:9", None),
    ("fe80::g", None),
    ("::ffff:", None),
    ("-", None),
    ("", None),
    ("N/A", None),
    ("host-1", None),
]


@pytest.mark.parametrize(("text", "want"), SPELLINGS)
def test_one_spelling(text: str, want: str | None) -> None:
    assert clean_ip(text) == want
    assert clean_ip(text) == want  # from the cache too


def test_columnar_gives_the_same_text() -> None:
    texts = [t for t, _ in SPELLINGS]
    values: list[str | None] = texts + texts[::-1] + [None]
    got = t_ip(pa.array(values, pa.string()), "source.ip")["source.ip"].to_pylist()
    assert got == [clean_ip(v) for v in values]
    assert got[: len(SPELLINGS)] == [w for _, w in SPELLINGS]


def test_every_reader_goes_through_it() -> None:
    """The per-record transforms of the Windows (EVTX, evtx_dump, NDJSON, OTRF), Zeek and
    native ECS mappings, and the host key of a name that is an address."""
    for text, want in SPELLINGS:
        for fn in (windows._ip, zeek._ip):
            row: dict[str, Any] = {}
            fn(text, "source.ip", row)
            assert row.get("source.ip") == want, (fn, text)
        row = {}
        jsonl._put(row, "destination.ip", text)
        assert row.get("destination.ip") == want, text
        if want is not None and ":" in want:  # a bracketed address with a port (RdpCoreTS ClientIP)
            row = {}
            windows._ip_port(f"[{text.strip()}]:3389", "source", row)
            assert row == {"source.ip": want, "source.port": 3389}, text
    assert zeek_row(["0:0:0:0:0:0:0:1", "10.0.0.1"]) == "::1"
    assert jsonl.first_ip(["fe80:0:0:0:0:0:0:1", "0:0:0:0:0:ffff:a09:909"]) == "10.9.9.9"
    assert host_key("FE80:0:0:0:0:0:0:1") == "fe80::1"
    assert host_key("WS-1.corp.local") == "ws-1"


def zeek_row(v: Any) -> Any:
    row: dict[str, Any] = {}
    zeek._ip(v, "source.ip", row)
    return row.get("source.ip")


def _sysmon3(i: int, src: str, dst: str, host_ips: list[str]) -> bytes:
    return orjson.dumps({
        "@timestamp": f"2026-03-02T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "host": {"name": "ws-1", "ip": host_ips},
        "event": {"code": "3"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
            "event_id": "3", "computer_name": "ws-1.corp.local", "record_id": i,
            "event_data": {"SourceIp": src, "DestinationIp": dst, "SourcePort": "445", "Initiated": "true"},
        },
    })


def test_winlogbeat_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sysmon 3 records read in columns and record by record: the same one spelling."""
    monkeypatch.setattr(jsonl, "_MIN_BLOCK", jsonl._MIN_FAST)
    texts = [t for t, _ in SPELLINGS]
    lines = []
    for i in range(400):
        t = texts[i % len(texts)]
        host_ips = [t] if i % 3 else [texts[(i + 7) % len(texts)], t]
        lines.append(_sysmon3(i, t, texts[(i + 1) % len(texts)], host_ips))
    path = tmp_path / "sysmon.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    table = assert_same(path)  # every column the same both ways
    assert table is not None and table.num_rows == 400
    assert TAKEN[0] == 399  # all but the first (which picks the layout) read in columns
    want = dict(SPELLINGS)
    assert table.column("source.ip").to_pylist() == [want[texts[i % len(texts)]] for i in range(400)]
    dst = [want[texts[(i + 1) % len(texts)]] for i in range(400)]
    assert table.column("destination.ip").to_pylist() == dst
    # host.ip: the first address of the list, link-local and loopback only when alone
    host_ips = []
    for i in range(400):
        t = texts[i % len(texts)]
        listed = (t,) if i % 3 else (texts[(i + 7) % len(texts)], t)
        got = [w for w in map(want.get, listed) if w]
        plain = [w for w in got if not w.startswith(("fe80:", "::1"))]
        host_ips.append((plain or got or [None])[0])
    assert table.column("host.ip").to_pylist() == host_ips


def test_otrf_psexec_one_address() -> None:
    """otrf-lateral's local PsExec on WORKSTATION5: its Sysmon 3 events (``fe80:0:0:0:...``) and
    its share access and WFP events (``fe80::...``) name the same address with the same text."""
    path = CORPUS / "otrf-lateral" / "cmd_psexec_lsa_secrets_dump_2020-10-1903305471.json"
    if not path.is_file():
        pytest.skip("the shared corpus is not beside the repository")
    table = assert_same(path)  # in columns and record by record alike
    assert table is not None
    by_code: dict[str, set[str]] = {}
    for r in table.select(["host", "event.code", "source.ip", "destination.ip", "raw"]).to_pylist():
        if r["host"] == "workstation5" and "263c:5209" in r["raw"]:
            by_code.setdefault(r["event.code"], set()).update({r["source.ip"], r["destination.ip"]} - {None})
    one = {"fe80::90e:17af:263c:5209"}
    assert by_code["3"] == one
    assert by_code["5145"] == one
    assert by_code["5156"] == one
