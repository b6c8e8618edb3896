"""A case's times are UTC on every machine: the catalog's session zone is not the machine's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# In a child process: DuckDB takes the machine's zone (TZ) when it first needs one.
CHILD = textwrap.dedent("""
    import json, sys
    from datetime import UTC, datetime
    import pyarrow as pa
    from wormsign.store import Case
    with Case.open(sys.argv[1]) as case:
        eng = case.engine
        eng.execute("CREATE TABLE t (ts TIMESTAMP)")
        # times with a zone (Arrow, as ingest and the Sigma matches append them; Spark's results,
        # read from Parquet, have one too) into a TIMESTAMP column
        eng.append("t", pa.table({"ts": pa.array([datetime(2026, 1, 1, 20, 0, tzinfo=UTC)],
                                                 pa.timestamp("us", tz="UTC"))}))
        stored = eng.rows("SELECT strftime(ts, '%Y-%m-%d %H:%M') FROM t")[0][0]
        # a day of an event's time (the shards' times have a zone)
        day = eng.rows("SELECT strftime(date_trunc('day', TIMESTAMPTZ '2026-01-01 20:00:00+00'), '%Y-%m-%d')")[0][0]
        print(json.dumps({"stored": stored, "day": day}))
""")


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Los_Angeles"])
def test_times_stay_utc_whatever_the_machines_zone(tmp_path: Path, zone: str) -> None:
    res = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "case")], env=dict(os.environ, TZ=zone),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"stored": "2026-01-01 20:00", "day": "2026-01-01"}
