"""Timesketch JSONL, read by Timesketch's own import client (``timesketch-import-client``).

The client's ``ImportStreamer.add_file`` reads a ``.jsonl`` line by line and fixes up each entry
before upload: it invents ``message`` and ``timestamp_desc`` when they are missing and parses
``datetime``. A file Timesketch takes as it is comes through with nothing invented, and its
``datetime`` parses to the line's own ``timestamp``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from timesketch_import_client import importer
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

REQUIRED = ("message", "datetime", "timestamp_desc")  # Timesketch's mandatory JSONL fields


def test_timesketch_client_takes_every_line_as_written(demo_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "wormsign.jsonl"
    res = CliRunner().invoke(app, ["export", "--case", str(demo_case), "-f", "timesketch", "-o", str(out)])
    assert res.exit_code == 0, res.output
    written = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    streamer = importer.ImportStreamer()
    streamer.set_sketch(SimpleNamespace(api=SimpleNamespace(api_root="http://127.0.0.1:9/api/v1")))
    streamer.set_entry_threshold(len(written) + 1)  # keep every line in the buffer (no upload)
    streamer.add_file(str(out))
    got = streamer._data_lines  # what the client would upload
    assert len(got) == len(written)
    for mine, theirs in zip(written, got, strict=True):
        assert all(mine[k] not in (None, "") for k in REQUIRED)
        assert set(theirs) == set(mine), "the client had to invent a field"
        parsed = datetime.fromisoformat(theirs["datetime"])
        assert round(parsed.timestamp() * 1_000_000) == mine["timestamp"]
        assert theirs["message"] == mine["message"] and theirs["timestamp_desc"] == mine["timestamp_desc"]
    kinds = {w["data_type"] for w in written}
    assert {"wormsign:incident", "wormsign:alert", "wormsign:event"} <= kinds
    with Case.open(str(demo_case), read_only=True) as case:
        n_alerts = case.rows("SELECT count(*) FROM alerts")[0][0]
    assert sum(w["data_type"] == "wormsign:alert" for w in written) == n_alerts
    # each evidence line names the alerts that cite it, and those alerts list it
    alerts = {w["alert_id"]: w for w in written if w["data_type"] == "wormsign:alert"}
    ev = next(w for w in written if w["data_type"] == "wormsign:event")
    assert ev["alert_ids"] and all(ev["ref"] in alerts[a]["evidence"] for a in ev["alert_ids"][:5]
                                   if len(alerts[a]["evidence"]) < 100)
