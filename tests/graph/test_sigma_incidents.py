"""Sigma alerts outside every outbreak become incidents by rule family, acting host and episode."""

from __future__ import annotations

from datetime import datetime, timezone

from wormsign.graph.incidents import other_incidents, sigma_family


def _alert(i: int, title: str, tactics: list[str], host: str, ts: str, severity: str = "medium",
           source: str | None = None) -> dict:
    return {"id": f"ALR-{i:06d}", "rule": f"sigma:{title.lower().replace(' ', '-')}", "title": title,
            "severity": severity, "tactics": tactics, "ts": ts, "first_seen": ts, "last_seen": ts, "host": host,
            "source_host": source or host, "target_hosts": [], "fields": {}, "evidence": []}


def test_family_is_the_phase_of_the_first_tactic_or_the_rule_itself() -> None:
    assert sigma_family(_alert(1, "a", ["persistence", "privilege-escalation"], "h", "t")) == "intrusion"
    assert sigma_family(_alert(1, "a", ["credential-access"], "h", "t")) == "credentials"
    assert sigma_family(_alert(1, "a", ["lateral-movement"], "h", "t")) == "movement"
    assert sigma_family(_alert(1, "Odd", ["not-a-tactic"], "h", "t")) == "rule:Odd"
    assert sigma_family(_alert(1, "Odd", [], "h", "t")) == "rule:Odd"


def test_one_incident_per_family_and_episode_named_by_its_most_frequent_rule() -> None:
    day = "2026-03-02T"
    alerts = [
        _alert(1, "Encoded PowerShell", ["execution"], "ws-01", day + "09:00:00Z"),
        _alert(2, "Encoded PowerShell", ["execution"], "ws-01", day + "09:05:00Z"),
        _alert(3, "Run key added", ["persistence"], "ws-01", day + "09:10:00Z", "high"),
        _alert(4, "LSASS read", ["credential-access"], "ws-01", day + "09:20:00Z", "high"),
        _alert(5, "Encoded PowerShell", ["execution"], "ws-01", "2026-03-05T09:00:00Z"),  # days later
        _alert(6, "Share write", ["lateral-movement"], "ws-02", day + "09:30:00Z", source="ws-01"),
    ]
    incs = other_incidents(alerts, [])
    got = sorted((i["title"], i["severity"], tuple(i["alerts"])) for i in incs)
    assert got == [
        ("Sigma: Encoded PowerShell on 1 host (1 alerts)", "medium", ("ALR-000005",)),
        ("Sigma: LSASS read on 1 host (1 alerts)", "high", ("ALR-000004",)),
        ("Sigma: Share write from ws-01 on 1 host (1 alerts)", "medium", ("ALR-000006",)),
        ("Sigma: execution, persistence and evasion: Encoded PowerShell and 1 more rule on 1 host (3 alerts)",
         "high", ("ALR-000001", "ALR-000002", "ALR-000003")),
    ]
    assert all(i["type"] == "sigma" for i in incs)


def test_a_known_deployers_own_sigma_incident_is_at_most_medium() -> None:
    alerts = [_alert(1, "PsExec service", ["execution"], "ws-03", "2026-03-02T09:00:00Z", "high", source="sccm-01"),
              _alert(2, "Suspicious shell", ["execution"], "ws-04", "2026-03-02T09:00:00Z", "high")]
    incs = {i["title"]: i["severity"] for i in other_incidents(alerts, [], deployers={"sccm-01"})}
    assert incs == {"Sigma: PsExec service from sccm-01 on 1 host (1 alerts)": "medium",
                    "Sigma: Suspicious shell on 1 host (1 alerts)": "high"}


def test_a_copy_to_a_host_with_worm_evidence_is_not_the_writers_evidence() -> None:
    """An admin's installer written over ADMIN$ to four hosts, one of which had been spraying
    passwords the day before (spray, seed 7, 40 hosts, 3 days): the copies are the writer's, and
    the writer has no worm evidence, so the incident is at most medium. The same copies from the
    sprayer itself stay high."""
    rule = "51dcf743-a5c4-454a-8dc0-7f417e6cd024"  # families.yaml copies_only
    tied = {"ws-0009": datetime(2026, 3, 3, 7, 0, tzinfo=timezone.utc)}  # the sprayer, a day before

    def write(i: int, target: str, source: str) -> dict:
        a = _alert(i, "Write to an administrative share from a remote address", ["lateral-movement"], target,
                   f"2026-03-04T15:2{i}:00Z", "high", source=source)
        return {**a, "rule": f"sigma:{rule}", "target_hosts": [target]}

    admin = [write(i, h, "ws-0004") for i, h in enumerate(["ws-0013", "ws-0021", "ws-0009", "ws-0012"], 1)]
    (inc,) = other_incidents(admin, [], tied=tied)
    assert "ws-0009" in {h["host"] for h in inc["hosts"]}
    assert inc["severity"] == "medium"
    sprayer = [write(i, h, "ws-0009") for i, h in enumerate(["ws-0013", "ws-0021", "ws-0012"], 1)]
    (inc,) = other_incidents(sprayer, [], tied=tied)
    assert inc["severity"] == "high"


def test_a_program_started_through_wmi_alone_is_movement_to_look_at_unless_its_host_is_tied() -> None:
    """A WmiPrvSE child or PsExec's service (families.yaml movement_only) alone is what an admin's
    management tool does too: medium, as the analytics' own wmi-exec and psexec alone are. On a host
    with worm evidence by then it stays high; a rule outside the list (a shell started by the service
    control manager) stays high anywhere."""
    wmi = {**_alert(1, "Process started by WMI", ["execution"], "ws-02", "2026-03-02T09:00:00Z", "high"),
           "rule": "sigma:9a1ceda1-c2d7-48b5-8278-c4148cc90eb3"}
    (inc,) = other_incidents([wmi], [])
    assert inc["severity"] == "medium"
    (inc,) = other_incidents([wmi], [], tied={"ws-02": datetime(2026, 3, 2, 8, tzinfo=timezone.utc)})
    assert inc["severity"] == "high"
    # the host's worm evidence came after the WMI start: then it was not the worm's
    (inc,) = other_incidents([wmi], [], tied={"ws-02": datetime(2026, 3, 2, 10, tzinfo=timezone.utc)})
    assert inc["severity"] == "medium"
    shell = _alert(2, "Service control manager starts a shell", ["execution"], "ws-02", "2026-03-02T09:01:00Z",
                   "high")
    (inc,) = other_incidents([wmi, shell], [])
    assert inc["severity"] == "high"  # one intrusion incident; the shell is not an admin's doing
