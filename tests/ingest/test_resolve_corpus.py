"""Host resolution on real attack EVTX from the shared corpus, met by a Zeek record of the same address."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from test_resolve import CONN, zeek

from wormsign.ingest import ingest_paths
from wormsign.resolve import host_of, resolve
from wormsign.store import Case

FILES = (
    "Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx",  # 4624 type 3 from 10.0.2.17, WorkstationName PC01
    "Lateral Movement/remote task update 4624 4702 same logonid.evtx",  # from 172.16.66.142, 04246W-WIN10
    "Lateral Movement/ImpersonateUser-via local Pass The Hash Sysmon and Security.evtx",  # 127.0.0.1: no evidence
)


def test_corpus_logons_name_addresses(corpus: Path, tmp_path: Path, case_path: Path) -> None:
    # A Zeek sensor saw the WMI connection: 2019-03-18T22:15:49Z is 1552947349 (minutes from T0 below).
    t0 = 1772438400
    minutes = (1552947349 - t0) / 60
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [(minutes, "Cw", "10.0.2.17", 49800, "10.0.2.15", 135, "tcp", "SF")])
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(corpus / f) for f in FILES] + [str(conn)], case, workers=1)
        assert rep.stats.rejected == 0 and rep.files == 4
        resolve(case)
        # 10.0.2.17 was PC01 in the 2019 recording and MSEDGEWIN10 (Sysmon 3: its own outbound
        # connections, and the reverse lookups of its addresses) in the 2021 one.
        assert case.rows("SELECT ip, host, evidence, n FROM host_addr ORDER BY ip, first_seen") == [
            ("10.0.2.17", "pc01", "win-logon", 1), ("10.0.2.17", "msedgewin10", "own-address,sysmon-3", 3),
            ("10.0.3.15", "msedgewin10", "own-address,sysmon-3", 3), ("172.16.66.142", "04246w-win10", "win-logon", 1),
        ]
        assert case.rows("SELECT count(*) FROM host_conflicts") == [(0,)]
        # The network record lands on the workstation's host key; the logons name their source.
        assert case.rows("SELECT host, \"source.host\" FROM events WHERE \"src.format\" = 'zeek'") == [("pc01", "pc01")]
        # Kerberos logons give no workstation name: their source comes from the address at that time.
        logons = case.rows(
            "SELECT \"source.ip\", \"source.domain\" IS NULL, \"source.host\", count(*) FROM events "
            "WHERE \"event.code\" = '4624' AND \"source.ip\" IN ('10.0.2.17', '172.16.66.142') GROUP BY ALL ORDER BY ALL"
        )
        assert logons == [("10.0.2.17", False, "pc01", 1), ("10.0.2.17", True, "pc01", 3),
                          ("172.16.66.142", False, "04246w-win10", 1), ("172.16.66.142", True, "04246w-win10", 2)]
        assert host_of(case, "10.0.2.17", datetime(2019, 3, 18, 22, 16, tzinfo=UTC)) == "pc01"
        assert host_of(case, "10.0.2.17", datetime(2021, 4, 20, 20, 34, tzinfo=UTC)) == "msedgewin10"
        assert host_of(case, "127.0.0.1", datetime(2021, 4, 20, 20, 33, tzinfo=UTC)) is None
