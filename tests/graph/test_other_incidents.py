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
