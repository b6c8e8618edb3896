"""Same seed, same bytes; another seed, other bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

from wormsign.simulate import simulate


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    simulate("emotet-qakbot", 20, 1, 11, a)
    simulate("emotet-qakbot", 20, 1, 11, b)
    fa, fb = _files(a), _files(b)
    assert len(fa) > 10 and fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_other_seed_other_bytes(tmp_path: Path) -> None:
    simulate("emotet", 20, 1, 11, tmp_path / "a")
    simulate("emotet", 20, 1, 12, tmp_path / "b")
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa["truth.json"] != fb["truth.json"]
    assert all(fa[k] != fb[k] for k in fa if k.startswith("logs/winlogbeat"))


def test_zeek_json_layout(tmp_path: Path) -> None:
    import gzip

    import orjson

    simulate("wannacry", 16, 1, 3, tmp_path, zeek_format="json", attack_at=2.0)
    with gzip.open(next((tmp_path / "logs" / "zeek").glob("*/conn.log.gz")), "rb") as fh:
        rows = [orjson.loads(x) for x in fh]
    assert rows and all(isinstance(r["ts"], float) and r["uid"].startswith("C") for r in rows)
    assert any(r["id.resp_p"] == 445 for r in rows)
    from wormsign.ingest import ingest_paths
    from wormsign.store import Case

    with Case.open(str(tmp_path / "case.duckdb")) as case:
        report = ingest_paths([str(tmp_path / "logs" / "zeek")], case, workers=1)
        assert report.stats.rejected == 0 and report.unknown == [] and report.stats.stored > len(rows)


def test_refuses_to_mix_runs(tmp_path: Path) -> None:
    import pytest

    simulate("benign", 14, 1, 1, tmp_path)
    with pytest.raises(ValueError, match="already holds a simulated run"):
        simulate("benign", 14, 1, 2, tmp_path)
    with pytest.raises(ValueError, match="attack_at"):
        simulate("emotet", 14, 1, 2, tmp_path, overwrite=True, attack_at=30)
    with pytest.raises(ValueError, match="ISO 8601"):
        simulate("emotet", 14, 1, 2, tmp_path, overwrite=True, start="yesterday")
    t = simulate("spray", 14, 1, 2, tmp_path, overwrite=True)
    assert t["scenario"] == "spray" and t["seed"] == 2


def test_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wormsign.cli import app

    res = CliRunner().invoke(app, ["simulate", "-s", "wannacry", "-n", "16", "-d", "1", "--seed", "3",
                                   "--attack-at", "2", "-o", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "wannacry" in res.output and (tmp_path / "w" / "truth.json").is_file()
    bad = CliRunner().invoke(app, ["simulate", "-s", "nope", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1


def _records(path: Path) -> int:
    with gzip.open(path, "rt") as fh:
        return sum(1 for line in fh if not line.startswith("#"))


def test_cli_benign_volume_adds_background(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wormsign.cli import app

    counts = {}
    for v in ("1", "3"):
        out = tmp_path / f"v{v}"
        res = CliRunner().invoke(app, ["simulate", "-s", "benign", "-n", "12", "-d", "1", "--seed", "5",
                                       "--benign-volume", v, "-o", str(out)])
        assert res.exit_code == 0, res.output
        counts[v] = sum(_records(f) for f in (out / "logs").rglob("*.gz"))
    # (v - 1) x ~170 more records a host-day: about 340 a host at 3
    assert counts["3"] > counts["1"] + 12 * 200
    low = CliRunner().invoke(app, ["simulate", "-s", "benign", "--benign-volume", "0.5", "-o", str(tmp_path / "x")])
    assert low.exit_code != 0 and not (tmp_path / "x" / "truth.json").exists()
