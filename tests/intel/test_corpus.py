"""Matching on real telemetry: a Sysmon EVTX of an RDP tunnel from the shared corpus, with plink's server as C2."""

from __future__ import annotations

import hashlib
from pathlib import Path

from wormsign.ingest import ingest_paths
from wormsign.intel import attribute
from wormsign.intel.importer import import_file
from wormsign.intel.store import IntelStore
from wormsign.store import Case


def test_plink_tunnel_server_as_c2_on_real_sysmon(corpus: Path, tmp_path: Path) -> None:
    evtx = corpus / "Command and Control" / "DE_sysmon-3-rdp-tun.evtx"
    digest = hashlib.sha256(evtx.read_bytes()).hexdigest()
    feed = tmp_path / "c2.txt"
    feed.write_text("10.0.2.18:80,plink-tunnel\n")
    with Case.open(str(tmp_path / "case.duckdb")) as case, IntelStore.open(str(tmp_path / "i.duckdb")) as s:
        rep = ingest_paths([str(evtx)], case, workers=1)
        assert rep.stats.rejected == 0
        import_file(str(feed), s)
        attr = attribute(case, s)
    (fam,) = attr.hosts["pc01"]
    # plink's connection to port 80 (0.80) and other traffic to the same address (0.60): 1 - 0.2 * 0.4
    assert (fam.family, fam.confidence) == ("plink-tunnel", 0.92)
    assert f"{digest}:4" == fam.evidence[0]
    procs = {p.executable.rsplit("\\", 1)[-1]: p.confidence for p in attr.processes}
    assert procs["plink.exe"] == 0.8 and procs["svchost.exe"] == 0.6
    c2 = {(c.address, c.port): c for c in attr.c2["plink-tunnel"]}
    assert c2[("10.0.2.18", 80)].hosts == ["pc01"] and c2[("10.0.2.18", 80)].events == 1
    assert c2[("10.0.2.18", None)].events == 16  # the other ports, one address match each
