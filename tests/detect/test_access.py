"""Patient zero's initial-access chain, read from process starts on a real case."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from huntrows import T0, ev, lure, make_case

from wormsign.detect import access, config, working

WORD = "C:\\Program Files\\Office\\WINWORD.EXE"


def test_chain_starts_at_the_lure_and_a_user_opening_word_is_no_lure(tmp_path: Path) -> None:
    cfg = config.load()
    rows = [ev(-30, "ws-01", "process", "1", **{"process.executable": "C:\\Windows\\System32\\cmd.exe",
               "process.parent.executable": "C:\\Windows\\explorer.exe"})]
    rows += lure(0, "ws-01")
    rows += [ev(0, "ws-02", "process", "1", **{"process.executable": WORD,
                "process.parent.executable": "C:\\Windows\\explorer.exe"})]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        chain = access.initial_access(case, "ws-01", T0.replace(hour=10), cfg)
        benign = access.initial_access(case, "ws-02", T0.replace(hour=10), cfg)
    assert [r["process"].rsplit("\\", 1)[-1] for r in chain] == ["WINWORD.EXE", "powershell.exe"]
    assert all(r["ref"].startswith("d" * 64 + ":") for r in chain)
    assert access.is_lure(chain, cfg)
    assert not access.is_lure(benign, cfg)
    # Word opened from the mail client is the phishing entry; PowerShell from Word runs the lure
    assert [r["attack"] for r in chain] == [["T1566", "T1566.001", "T1204.002"], ["T1204.002", "T1059.001"]]
    assert benign == []  # a user opening Word is no step of an intrusion


OUTLOOK = "C:\\Program Files\\Office\\OUTLOOK.EXE"
CMD = "C:\\Windows\\System32\\cmd.exe"
PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
EXPLORER = "C:\\Windows\\explorer.exe"


def _proc(minutes: float, exe: str, pid: int, parent: str, ppid: int, cmd: str = "") -> dict[str, object]:
    return ev(minutes, "ws-01", "process", "1", **{"process.executable": exe, "process.pid": pid,
              "process.parent.executable": parent, "process.parent.pid": ppid, "process.command_line": cmd or exe})


def _write(minutes: float, writer: str, pid: int, path: str) -> dict[str, object]:
    return ev(minutes, "ws-01", "file", "11", **{"process.executable": writer, "process.pid": pid, "file.path": path})


def test_the_chain_is_the_lineage_of_the_payload_and_nothing_beside_it(tmp_path: Path) -> None:
    """Outlook saves an attachment, Word opens it, PowerShell writes and runs the payload; Word
    opened from Explorer, a shell the user started, another document from mail after the payload
    and its shell are not steps of that chain, nor is the mail client's own start."""
    cfg = config.load()
    doc = "C:\\Users\\u\\INetCache\\invoice.doc"
    payload = "C:\\Users\\u\\AppData\\Local\\q1\\zx.exe"
    rows = [
        _proc(0, OUTLOOK, 10, EXPLORER, 1),
        _proc(0.2, WORD, 11, EXPLORER, 1),  # a document the user opened from Explorer
        _write(0.5, OUTLOOK, 10, doc),
        _proc(1, WORD, 20, OUTLOOK, 10, f'"{WORD}" /n "{doc}"'),
        _proc(2, PS, 30, WORD, 20, "powershell -enc AAAA"),
        _write(3, PS, 30, payload),
        _proc(4, payload, 40, PS, 30),
        _proc(5, CMD, 70, EXPLORER, 1),  # the user's own shell
        _proc(5.5, "C:\\Windows\\System32\\net.exe", 71, CMD, 70),
        _proc(6, WORD, 50, OUTLOOK, 10, f'"{WORD}" /n "C:\\Users\\u\\other.doc"'),  # after the payload
        _proc(7, CMD, 60, WORD, 50),
    ]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        chain = access.initial_access(case, "ws-01", T0.replace(hour=10), cfg)
    got = [(r["step"], (r["process"] if r["step"] == "process" else r["file"]).rsplit("\\", 1)[-1]) for r in chain]
    assert got == [("file", "invoice.doc"), ("process", "WINWORD.EXE"), ("process", "powershell.exe"),
                   ("file", "zx.exe"), ("process", "zx.exe")]
    assert chain[1]["attack"] == ["T1566", "T1566.001", "T1204.002"]
    assert chain[0]["process"] == OUTLOOK and chain[3]["process"] == PS  # the program that wrote each file
    assert access.is_lure(chain, cfg)


def test_an_exploit_from_outside_opens_the_chain_of_the_program_it_started(tmp_path: Path) -> None:
    """The exploit edge (propagation.py's EXPLOIT row, evidence [the SMB session, the execution])
    may name the service install rather than the process start: the chain still opens with the
    session from the outside address, then the file dropped and the program run from it."""
    cfg = config.load()
    lsass, services = "C:\\Windows\\System32\\lsass.exe", "C:\\Windows\\System32\\services.exe"
    drop, second = "C:\\Windows\\mssecq.exe", "C:\\Windows\\tasksq.exe"
    rows = [
        ev(-5, "ws-01", "process", "1", **{"process.executable": EXPLORER, "process.pid": 900,
           "process.parent.executable": "C:\\Windows\\System32\\userinit.exe", "process.parent.pid": 800}),
        _write(1, lsass, 700, drop),
        ev(1.5, "ws-01", "service", "7045", **{"service.image": drop + " -m security", "service.name": "mssecsvc"}),
        _proc(2, drop, 6112, services, 654, drop + " -m security"),
        _write(2.1, drop, 6112, second),
        _proc(2.2, second, 7000, drop, 6112),
    ]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        install = case.rows("""SELECT ws_ref("src.digest", "src.record") FROM events WHERE kind = 'service'""")[0][0]
        case.drop("h_edges")  # the edge of an exploit from outside, which these logs alone do not show
        case.engine.execute(
            "CREATE TEMP TABLE h_edges AS SELECT '203.0.113.9' AS source, 'ws-01' AS target, ?::TIMESTAMPTZ AS ts, "
            "?::TIMESTAMPTZ AS drop_ts, ['zeek:1', ?] AS evidence, ? AS fpath, 'exploit' AS kind",
            [T0 + timedelta(minutes=1.5), T0 + timedelta(seconds=30), install, drop + " -m security"])
        chain = access.initial_access(case, "ws-01", T0.replace(hour=10), cfg)
    assert [(r["step"], r["file"] or r["process"] or r["source"]) for r in chain] == [
        ("exploit", "203.0.113.9"), ("file", drop), ("process", drop), ("file", second), ("process", second)]
    assert chain[0]["ref"] == "zeek:1" and chain[0]["port"] == 445 and chain[0]["attack"] == ["T1190"]
