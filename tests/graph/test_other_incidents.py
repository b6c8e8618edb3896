"""Alerts outside every outbreak: Sigma alerts become one readable incident per rule."""

from __future__ import annotations

from wormsign.graph.incidents import other_incidents


def _alert(i: int, rule: str, title: str, host: str, source: str | None = None) -> dict:
    return {"id": f"ALR-{i:06d}", "rule": rule, "title": title, "severity": "high", "ts": f"2026-03-02T09:0{i}:00Z",
            "first_seen": None, "last_seen": None, "host": host, "source_host": source, "target_hosts": [],
            "fields": {}}


def test_sigma_alerts_group_by_rule_with_their_title() -> None:
    alerts = [_alert(1, "sigma:aaaa", "PsExec service installed", "ws-01", "ws-01"),
              _alert(2, "sigma:aaaa", "PsExec service installed", "ws-02", "ws-02"),
              _alert(3, "sigma:bbbb", "Scheduled task created", "ws-02"),
              _alert(4, "remote-service", "Service installed", "ws-03", "adm-01")]
    incs = other_incidents(alerts, [])
    titles = sorted(i["title"] for i in incs)
    assert titles == ["Sigma: PsExec service installed on 2 hosts (2 alerts)",
                      "Sigma: Scheduled task created on 1 host (1 alerts)",
                      "lateral from adm-01: remote-service (1 alerts)"]
    psexec = next(i for i in incs if "PsExec" in i["title"])
    assert psexec["type"] == "sigma" and psexec["alerts"] == ["ALR-000001", "ALR-000002"]


def test_a_known_deployers_usual_push_is_kept_but_ranked_low() -> None:
    from wormsign.detect.baseline import Baseline

    base = Baseline(deployers={"sccm-01"}, known={("sccm-01", "ccmsetup.exe")})
    usual = _alert(1, "admin-share-copy", "Copy", "ws-01", "sccm-01")
    usual["fields"] = {"file": "ccmsetup.exe"}
    service = _alert(2, "remote-service", "Service installed", "ws-01", "sccm-01")
    new_binary = _alert(3, "admin-share-copy", "Copy", "ws-02", "pdq-01")
    new_binary["fields"] = {"file": "evil.exe"}
    pdq_base = Baseline(deployers={"sccm-01", "pdq-01"}, known={("sccm-01", "ccmsetup.exe"), ("pdq-01", "x.exe")})

    def routine(a: dict) -> bool:
        return pdq_base.routine_alert(a, bruteforcers=set())

    incs = {i["title"].split(":")[0]: i for i in other_incidents([usual, service, new_binary], [], routine)}
    assert incs["routine deployment by sccm-01 (learned baseline)"]["severity"] == "low"
    # a deployer copying a never-seen binary that nothing started: medium (graph/deploy.py ranks its pushes)
    assert incs["lateral from pdq-01 (copies, nothing started)"]["severity"] == "medium"
    # ... and the title says that it is a known deployer acting outside its baseline
    incs = other_incidents([usual, service, new_binary], [], routine, deployers=pdq_base.deployers)
    assert "lateral from pdq-01, a known deployer outside its baseline (copies, nothing started): " \
        "admin-share-copy (1 alerts)" in {
        i["title"] for i in incs}
    # The same deployer tied to brute force is not routine.
    assert not base.routine_alert(usual, bruteforcers={"sccm-01"})
    assert base.routine_alert(usual, bruteforcers=set())


def test_a_known_deployers_sigma_alerts_join_its_routine_incident() -> None:
    from wormsign.detect.baseline import Baseline

    base = Baseline(deployers={"sccm-01"}, known={("sccm-01", "ccmsetup.exe")})
    usual = _alert(1, "admin-share-copy", "Copy", "ws-01", "sccm-01")
    usual["fields"] = {"file": "ccmsetup.exe"}
    write = _alert(2, "sigma:cccc", "Write to an administrative share", "ws-01", "sccm-01")
    other = _alert(3, "sigma:cccc", "Write to an administrative share", "ws-02", "ws-09")  # not a deployer
    own = _alert(4, "sigma:dddd", "Suspicious shell", "sccm-01", "sccm-01")  # on the deployer itself

    incs = other_incidents([usual, write, other, own], [], lambda a: base.routine_alert(a, bruteforcers=set()))
    by_title = {i["title"]: i for i in incs}
    assert by_title["routine deployment by sccm-01 (learned baseline): admin-share-copy, sigma (2 alerts)"][
        "alerts"] == ["ALR-000001", "ALR-000002"]
    # A Sigma incident names the host that acted: other sources' writes are other incidents.
    assert by_title["Sigma: Write to an administrative share from ws-09 on 1 host (1 alerts)"][
        "alerts"] == ["ALR-000003"]
    assert by_title["Sigma: Suspicious shell on 1 host (1 alerts)"]["severity"] == "high"
    # A deployer tied to brute force: no routine; its Sigma alert of that hour is evidence of
    # its movement, in the one lateral incident, not an incident of its own.
    incs = other_incidents([usual, write], [], lambda a: base.routine_alert(a, bruteforcers={"sccm-01"}))
    assert [(i["type"], i["alerts"]) for i in incs] == [("lateral", ["ALR-000001", "ALR-000002"])]
    assert incs[0]["title"] == "lateral from sccm-01 (copies, nothing started): admin-share-copy, sigma (2 alerts)"


def test_sigma_alerts_of_a_hosts_movement_are_its_evidence_not_its_severity() -> None:
    copy = _alert(1, "admin-share-copy", "Copy", "ws-02", "ws-01")
    started = _alert(2, "remote-exec", "Started", "ws-02", "ws-01")
    write = _alert(3, "sigma:cccc", "Write to an administrative share", "ws-02", "ws-01")
    later = {**_alert(4, "sigma:cccc", "Write to an administrative share", "ws-03", "ws-01"),
             "ts": "2026-03-02T15:00:00Z"}  # hours later: not that movement
    incs = other_incidents([copy, started, write, later], [])
    assert [(i["type"], i["severity"], i["alerts"]) for i in incs] == [
        ("lateral", "medium", ["ALR-000001", "ALR-000002", "ALR-000003"]), ("sigma", "high", ["ALR-000004"])]


def test_copies_that_nothing_started_are_medium_unless_the_host_is_tied() -> None:
    copy = _alert(1, "admin-share-copy", "Copy", "ws-02", "ws-01")
    fan = _alert(2, "spreader-fanout", "Fan-out", "ws-01", "ws-01")
    (inc,) = other_incidents([copy, fan], [])
    assert inc["severity"] == "medium"
    assert inc["title"] == "lateral from ws-01 (copies, nothing started): admin-share-copy, spreader-fanout (2 alerts)"
    (inc,) = other_incidents([copy, fan], [], tied={"ws-01"})  # it also guessed passwords or beaconed
    assert inc["severity"] == "high"
    # started on the target, but nothing went on from it and ws-01 has no worm evidence: an admin
    # does this too, so it is lateral movement to look at (medium), not "act now"
    started = _alert(3, "remote-exec", "Started", "ws-02", "ws-01")
    (inc,) = other_incidents([copy, fan, started], [])
    assert inc["severity"] == "medium" and inc["title"].startswith("lateral from ws-01: ")
    (inc,) = other_incidents([copy, fan, started], [], tied={"ws-01"})
    assert inc["severity"] == "high"
    # an exploit is no administration: Zerologon stays high whoever sent it
    (inc,) = other_incidents([_alert(4, "netlogon-exploit", "Zerologon", "dc-01", "ws-01")], [])
    assert inc["severity"] == "high"


def test_a_hosts_movements_days_apart_are_separate_incidents() -> None:
    august = _alert(1, "remote-exec", "Started", "ws-02", "ws-01")
    october = {**_alert(2, "wmi-exec", "WMI", "ws-03", "ws-01"), "ts": "2026-05-02T09:00:00Z"}
    same_day = {**_alert(3, "winrm-exec", "WinRM", "ws-04", "ws-01"), "ts": "2026-03-02T20:00:00Z"}
    incs = other_incidents([august, october, same_day], [])
    assert [i["alerts"] for i in incs] == [["ALR-000001", "ALR-000003"], ["ALR-000002"]]


def test_a_sigma_alert_on_an_event_the_analytics_tied_to_a_source_joins_its_movement() -> None:
    wmi = {**_alert(1, "wmi-exec", "WMI", "ws-02", "ws-01"), "evidence": ["d:7", "d:9"]}
    sig = {**_alert(2, "sigma:eeee", "Process started by WMI", "ws-02", "ws-02"), "evidence": ["d:9"]}
    other = {**_alert(3, "sigma:eeee", "Process started by WMI", "ws-05", "ws-05"), "evidence": ["d:11"]}
    incs = other_incidents([wmi, sig, other], [])
    assert sorted((i["type"], tuple(i["alerts"])) for i in incs) == [
        ("lateral", ("ALR-000001", "ALR-000002")), ("sigma", ("ALR-000003",))]


def test_worm_evidence_counts_from_when_it_was_seen() -> None:
    """An admin workstation copied and started an installer on day 1 and was infected on day 2:
    its day-1 movement is no worm's (medium); the same movement after the worm evidence is high."""
    from datetime import UTC, datetime

    copy = _alert(1, "admin-share-copy", "Copy", "ws-02", "ws-01")
    started = _alert(2, "remote-exec", "Started", "ws-02", "ws-01")
    (inc,) = other_incidents([copy, started], [], tied={"ws-01": datetime(2026, 3, 3, 6, 0, tzinfo=UTC)})
    assert inc["severity"] == "medium"
    (inc,) = other_incidents([copy, started], [], tied={"ws-01": datetime(2026, 3, 2, 8, 0, tzinfo=UTC)})
    assert inc["severity"] == "high"


def test_a_hosts_action_on_itself_is_one_incident_with_its_sigma_alerts() -> None:
    """A local PsExec (Hayabusa's iewin7 sample, otrf-lateral's WORKSTATION5): the analytics' PsExec
    alert names no other host, and the Sigma alerts on its records (the pipes) or on the same
    host within same_moment_s (the service it installed, the share write) name none either: one
    incident on that host, at the analytics' severity. A Sigma alert on the host minutes later,
    or on another host, stays apart."""
    ps = {**_alert(1, "psexec", "PsExec", "ws-05", "ws-05"), "first_seen": "2026-03-02T09:01:00Z",
          "last_seen": "2026-03-02T09:01:00Z", "evidence": ["d:20", "d:21"]}
    pipes = {**_alert(2, "sigma:pipe", "PsExec pipes", "ws-05", "ws-05"), "ts": "2026-03-02T09:01:00Z",
             "evidence": ["d:21"]}
    svc = {**_alert(3, "sigma:svc", "PsExec service installed", "ws-05", None), "ts": "2026-03-02T09:01:30Z",
           "evidence": ["d:40"]}
    later = {**_alert(4, "sigma:svc", "PsExec service installed", "ws-05", None), "ts": "2026-03-02T09:09:00Z",
             "evidence": ["d:90"]}
    elsewhere = {**_alert(5, "sigma:svc", "PsExec service installed", "ws-06", None), "ts": "2026-03-02T09:01:10Z",
                 "evidence": ["e:1"]}
    incs = other_incidents([ps, pipes, svc, later, elsewhere], [])
    got = sorted((i["type"], i["severity"], tuple(i["alerts"])) for i in incs)
    assert got == [("lateral", "medium", ("ALR-000001", "ALR-000002", "ALR-000003")),
                   ("sigma", "high", ("ALR-000005", "ALR-000004"))]  # the rule's own incident, as before
    one = next(i for i in incs if "ALR-000001" in i["alerts"])
    assert one["title"] == "lateral on ws-05, from itself: psexec, sigma (3 alerts)"
