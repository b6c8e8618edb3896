"""The real APT29 Zeek logs (../shared/corpus/otrf-apt29-zeek, JSON as a sensor pipeline ships
them: ``id_orig_h``, ``@stream``, ``@system``): every record stored or rejected with a reason,
every log with a ``ts`` stored, and each record on the host it observes, never on the sensor."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wormsign.ingest import ingest_paths
from wormsign.resolve import resolve
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "otrf-apt29-zeek"
#: Zeek's own logs (README: "name no hosts"): stored as the sensor's (host '-'), but for the list
#: of scripts loaded, which has no time (the sensor's configuration): rejected as zeek-housekeeping.
HOUSEKEEPING = ("loaded_scripts",)
#: Records per log over the 99 files (README "Files" table, summed per log).
PER_LOG = {
    "conn": 1785, "ssl": 1064, "dce_rpc": 511, "files": 481, "x509": 390, "dns": 303, "kerberos": 121,
    "http": 63, "weird": 38, "smb_mapping": 34, "smb_files": 21, "dpd": 12, "notice": 3, "pe": 2,
    "loaded_scripts": 2880, "reporter": 65, "stats": 17, "capture_loss": 8, "packet_filter": 6,
}
#: Hosts by address, as the README names them from the Kerberos and DNS logs.
NAMES = {"10.0.0.4": "newyork", "10.0.1.4": "scranton", "10.0.1.6": "nashua", "10.0.1.5": "utica",
         "10.0.1.10": "wec"}
SENSORS = {"bobs.bigwheel.local", "simplerockbuild.simplerock.lan", "test-nsm"}


def _logs() -> Iterator[Path]:
    yield from sorted(CORPUS.glob("day*/*.log"))


def _log(path: Path) -> str:
    return next(k for k in sorted(PER_LOG, key=len, reverse=True) if path.stem.endswith("_" + k))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    with Case.open(str(tmp_path_factory.mktemp("apt29") / "zeek.duckdb")) as c:
        rep = ingest_paths([str(CORPUS / "day1"), str(CORPUS / "day2")], c, workers=1)
        assert rep.unknown == [] and set(rep.by_format) == {"zeek"}
        assert set(rep.stats.reasons) == {"zeek-housekeeping"}, rep.rejects[:5]
        yield c


def test_every_record_is_stored_or_rejected_with_a_reason(case: Case) -> None:
    sources = {d: (n, s, r, json.loads(why)) for d, n, s, r, why in
               case.rows("SELECT digest, records, stored, rejected, reasons FROM sources")}
    files = list(_logs())
    assert len(files) == 99
    total = Counter[str]()
    for path in files:
        # Files of identical content (the loaded_scripts of each capture) are ingested once:
        # the one stored file stands for each of them.
        lines = sum(1 for line in path.read_text().splitlines() if line.strip())
        records, stored, rejected, reasons = sources[hashlib.sha256(path.read_bytes()).hexdigest()]
        assert records == lines and stored + rejected == records, path.name
        if _log(path) in HOUSEKEEPING:
            assert (stored, reasons) == (0, {"zeek-housekeeping": records}), path.name
        else:
            assert (stored, rejected) == (records, 0), (path.name, reasons)
        total["records"] += records
        total["stored"] += stored
    assert total == {"records": 7804, "stored": 7804 - 2880}
    kept = {k: v for k, v in PER_LOG.items() if k not in HOUSEKEEPING}
    assert dict(case.rows('SELECT "event.code", count(*) FROM events GROUP BY 1')) == kept
    assert case.rows("SELECT DISTINCT reason FROM rejects") == [("zeek-housekeeping",)]


def test_no_record_is_stored_under_the_sensor(case: Case) -> None:
    providers = {p for (p,) in case.rows('SELECT DISTINCT "event.provider" FROM events')}
    assert providers == SENSORS
    bad = ("zeek", *SENSORS, *(s.split(".")[0] for s in SENSORS))
    q = "SELECT count(*) FROM events WHERE host IN (SELECT unnest(?))"
    assert case.rows(q, [list(bad)]) == [(0,)]
    # Records that name no address (x509, pe, weirds about no connection, the sensor's own state)
    # are no host's...
    assert dict(case.rows("SELECT \"event.code\", count(*) FROM events WHERE host = '-' GROUP BY 1")) == {
        "x509": 390, "pe": 2, "weird": 22, "capture_loss": 8, "packet_filter": 6, "reporter": 65, "stats": 17}
    # ...and each is tied by its file id to the files.log record of the connection it came from.
    orphans = case.rows(
        "SELECT count(*) FROM events x WHERE x.\"event.code\" IN ('x509', 'pe') AND NOT EXISTS "
        "(SELECT 1 FROM events f WHERE f.\"event.code\" = 'files' AND f.\"event.id\" = x.\"event.id\")")
    assert orphans == [(0,)]


def test_records_belong_to_the_originator(case: Case) -> None:
    conn_hosts = dict(case.rows("SELECT host, count(*) FROM events WHERE \"event.code\" = 'conn' GROUP BY 1"))
    for ip in ("10.0.1.4", "10.0.1.6", "10.0.1.5", "10.0.0.4"):
        assert conn_hosts.get(ip), ip
    mismatched = case.rows("SELECT count(*) FROM events WHERE host <> '-' AND host <> \"source.ip\"")
    assert mismatched == [(0,)]
    # A GPO file NASHUA read from the DC's SYSVOL: sent by the responder (is_orig F), so the
    # receiver opened the connection and the record is NASHUA's, with the DC as destination.
    ev = case.rows(
        'SELECT ts, host, "source.ip", "destination.ip", "event.id", "event.provider", "network.protocol", '
        '"file.name", "file.path", "file.size", "file.hash.md5", message FROM events '
        'WHERE "src.file" = ? AND "src.record" = 1', [str(CORPUS / "day1" / "NASHUA_files.log")])
    assert ev == [(datetime.fromtimestamp(1588206049.300416, UTC), "10.0.1.6", "10.0.1.6", "10.0.0.4",
                   "FZ7E9x2gD5KHc8KoDg", "bobs.bigwheel.local", "smb", "gpt.ini",
                   "dmevals.local\\Policies\\{31B2F340-016D-11D2-945F-00C04FB984F9}\\gpt.ini", 22,
                   "cc85d7649546d3c0b1607f761b73fec2", "text/ini")]
    notice = case.rows("SELECT host, \"destination.ip\", \"event.action\" FROM events "
                       "WHERE \"event.code\" = 'notice' ORDER BY ts")
    assert notice == [("10.0.1.4", "192.168.0.5", "SSL::Invalid_Server_Cert"),
                      ("10.0.1.6", "192.168.0.4", "SSL::Invalid_Server_Cert"),
                      ("10.0.1.5", "192.168.0.4", "SSL::Invalid_Server_Cert")]


def test_resolution_names_the_hosts_the_logs_tie(case: Case) -> None:
    resolve(case)
    hosts = {h for (h,) in case.rows("SELECT DISTINCT host FROM events")}
    assert not hosts & {"zeek", *SENSORS}
    # UTICA's machine account asks for tickets from 10.0.1.5 (kerberos.log): its records are UTICA's.
    assert case.rows("SELECT DISTINCT host FROM events WHERE \"source.ip\" = '10.0.1.5'") == [("utica",)]
    # The DC issued service tickets for cifs/NASHUA, HTTP/SCRANTON, LDAP/NEWYORK, HTTP/WEC: those
    # computers exist, so the DNS answers for their names tie their addresses. Internet names
    # answered by DNS (arc.msn.com, ...) and user names name no host.
    assert dict(case.rows("SELECT ip, host FROM host_addr")) == NAMES
    for ip, host in case.rows('SELECT DISTINCT "source.ip", host FROM events WHERE "source.ip" IS NOT NULL'):
        assert host == NAMES.get(ip, ip), (ip, host)
    conn = dict(case.rows("SELECT host, count(*) FROM events WHERE \"event.code\" = 'conn' GROUP BY 1"))
    assert {"scranton", "nashua", "utica", "newyork"} <= set(conn)
