"""Parser processes die with their ingest run, and the temporary folders of dead runs go at the
next start (tests/ingest/test_kill.py kills whole runs; these look at each part alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wormsign.ingest import pipeline

posix = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"),
                           reason="needs fork and SIGKILL (POSIX)")


def _folder(root: Path, name: str, age_s: float = 0.0) -> Path:
    d = root / name
    d.mkdir()
    (d / "0123abcd.arrow").write_bytes(b"ARROW1" + bytes(1000))
    if age_s:
        t = time.time() - age_s
        os.utime(d, (t, t))
    return d


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                       text=True, check=True)
    return int(p.stdout)


@posix
def test_stale_temp_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    live = os.getppid()  # pytest's parent: alive throughout
    live_start = pipeline._start_time(live)
    own = tmp_path / (pipeline._tmp_prefix() + "own_1")
    own.mkdir()
    (own / "x.arrow").write_bytes(b"x")
    keep = [
        own,
        _folder(tmp_path, f"wormsign-ingest-{live}-{live_start}-abc_123"),
        _folder(tmp_path, "wormsign-ingest-abcd1234"),  # an earlier version's, recent: may be live
        _folder(tmp_path, "other-ingest-1-1-abc"),
    ]
    gone = [
        _folder(tmp_path, f"wormsign-ingest-{_dead_pid()}-0-k3j4h5g6"),
        _folder(tmp_path, "wormsign-ingest-zz9y8x7w", age_s=2 * pipeline.LEGACY_TMP_AGE_S),
    ]
    if live_start != "0":  # the pid is alive, but it is another process than the one that made it
        gone.append(_folder(tmp_path, f"wormsign-ingest-{live}-{int(live_start) + 1}-abc_456"))
    (tmp_path / "wormsign-ingest-1-1-file").write_text("not a folder")

    removed = pipeline.remove_stale_temp(str(tmp_path))

    assert sorted(removed) == sorted(map(str, gone))
    assert all(not d.exists() for d in gone)
    assert all((d / next(os.walk(d))[2][0]).exists() for d in keep)
    assert (tmp_path / "wormsign-ingest-1-1-file").exists()


def test_temp_folder_names_its_owner() -> None:
    prefix = pipeline._tmp_prefix()
    pid, start = prefix[len(pipeline.TMP_PREFIX):].rstrip("-").split("-")
    assert int(pid) == os.getpid() and start.isdigit()
    assert pipeline._owner_alive(int(pid), start)


# A run (this script) starts a parser process the way the pool does and is then killed; the
# parser process blocks on a pipe whose other end it holds itself, as a pool worker does.
_RUN = textwrap.dedent("""
    import os, sys, time
    from wormsign.ingest import pipeline
    if sys.argv[1] == "watch-only":
        pipeline._set_pdeathsig = lambda: False
    else:
        pipeline.PARENT_POLL_S = 3600.0  # the signal alone must do it
    parent = os.getpid()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        pipeline._die_with_parent(parent)
        os.read(r, 1)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
""")


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def _gone(pid: int) -> bool:
    if Path("/proc").is_dir():
        return _state(pid) in (None, "Z")  # a zombie has exited; it waits to be reaped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@posix
@pytest.mark.parametrize("how", ["watch-only", "pdeathsig"])
def test_parser_process_dies_with_a_killed_run(how: str) -> None:
    if how == "pdeathsig" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    run = subprocess.Popen([sys.executable, "-c", _RUN, how], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        child = int(run.stdout.readline())
        time.sleep(0.3)
        assert not _gone(child), "the parser process did not start"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        deadline = time.monotonic() + 5
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the parser process outlived its run ({how})")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if run.stdout:
            run.stdout.close()


@posix
def test_parser_process_whose_run_is_already_gone_exits() -> None:
    child = os.fork()
    if child == 0:
        pipeline._die_with_parent(os.getppid() + 1 if os.getppid() > 1 else 2)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 1
