"""Every simulated record goes through the project's own readers with zero rejects."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from wormsign.ingest import ingest_paths
from wormsign.store import Case
from tests.simulate.conftest import Run


def _unique_records(paths: list[str]) -> int:
    """Records in the files, counting files of equal content once (ingest skips repeats)."""
    seen: dict[str, int] = {}
    for p in paths:
        for f in sorted(Path(p).rglob("*.gz")):
            data = gzip.decompress(f.read_bytes())
            seen[hashlib.sha256(data).hexdigest()] = sum(
                1 for ln in data.split(b"\n") if ln.strip() and not ln.startswith(b"#"))
    return sum(seen.values())


def test_ingests_with_zero_rejects(runs: dict[str, Run], tmp_path: Path) -> None:
    paths = [str(run.out / "logs") for run in runs.values()]
    expected = _unique_records(paths)
    with Case.open(str(tmp_path / "case.duckdb")) as case:
        report = ingest_paths(paths, case, workers=1)
        assert report.unknown == [] and report.stats.rejected == 0, report.rejects[:5]
        assert report.stats.stored == expected
        assert len(report.by_format) == 2  # one reader for the Winlogbeat files, one for Zeek
        # the mapper understood what the simulator wrote
        rows = dict(case.rows('SELECT "event.code", count(*) FROM events WHERE kind = \'generic\' GROUP BY 1'))
        assert set(rows) <= {"13", "4634"}, rows
        shares = case.rows(
            'SELECT count(*) FROM events WHERE "event.code" = \'5145\' AND "source.ip" IS NOT NULL '
            "AND \"share.name\" = '\\\\*\\ADMIN$' AND \"share.path\" IS NOT NULL")[0][0]
        assert shares > 10
        hashes = case.rows('SELECT count(*) FROM events WHERE "event.code" = \'1\' AND "process.hash.sha256" IS NULL')
        assert hashes[0][0] == 0
