"""Forwarding to real receivers started in the test: Elasticsearch _bulk, Splunk HEC, syslog over
TCP and UDP, a chat webhook; retries, and a second run that sends nothing new."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from receivers import HttpReceiver, SyslogTcp, SyslogUdp
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.outputs.findings import Findings, incident_key
from wormsign.outputs.forward import ConfigError, chat_text, forward, load_config, sent_keys
from wormsign.store import Case

ENV = {"T_ES_KEY": "es-secret-123", "T_HEC": "hec-secret-456", "T_HOOK": ""}
FAST = {"retries": 3, "backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5.0}


@pytest.fixture
def case(demo_case: Path, tmp_path: Path) -> Path:
    """A copy of the hunted demo case, so that each test starts with nothing sent."""
    dst = tmp_path / "case"
    shutil.copytree(demo_case, dst)
    return dst


@pytest.fixture
def receivers() -> Iterator[dict[str, Any]]:
    r = {"es": HttpReceiver("bulk", auth="ApiKey es-secret-123"), "hec": HttpReceiver("hec", auth="Splunk hec-secret-456"),
         "hook": HttpReceiver("hook"), "tcp": SyslogTcp(), "udp": SyslogUdp()}
    yield r
    for x in r.values():
        x.close()


def _conf(tmp_path: Path, r: dict[str, Any], **extra: Any) -> Path:
    dests = [
        {"name": "es", "type": "elasticsearch", "url": r["es"].url, "index": "wormsign-alerts",
         "api_key_env": "T_ES_KEY"},
        {"name": "splunk", "type": "splunk_hec", "url": r["hec"].url, "token_env": "T_HEC", "index": "sec"},
        {"name": "syslog-tcp", "type": "syslog", "host": "127.0.0.1", "port": r["tcp"].port, "transport": "tcp"},
        {"name": "syslog-udp", "type": "syslog", "host": "127.0.0.1", "port": r["udp"].port, "transport": "udp",
         "min_severity": "high", "batch": 20},
        {"name": "chat", "type": "webhook", "url_env": "T_HOOK", "min_severity": "medium"},
    ]
    path = tmp_path / "dest.yaml"
    path.write_text(yaml.safe_dump({**FAST, **extra, "destinations": dests}))
    return path


def test_every_destination_gets_every_finding_once(case: Path, tmp_path: Path, receivers: dict[str, Any]) -> None:
    env = {**ENV, "T_HOOK": receivers["hook"].url + "/hooks/abc"}
    conf = load_config(_conf(tmp_path, receivers))
    with Case.open(str(case)) as c:
        findings = Findings.load(c)
        outcomes = {o.name: o for o in forward(c, conf, env=env, sleep=lambda s: None)}
    n = len(findings.alerts)
    assert all(o.error is None for o in outcomes.values()), {k: o.error for k, o in outcomes.items()}
    # Elasticsearch: every alert once, _id its key, ECS, in 500-document requests
    es = receivers["es"].accepted
    assert len(es) == n == outcomes["es"].sent and len({d["_id"] for d in es}) == n
    assert len(receivers["es"].requests) == -(-n // 500)
    assert all(d["doc"]["event"]["kind"] == "alert" and d["doc"]["wormsign"]["alert"]["key"] == d["_id"] for d in es)
    # Splunk: the same documents as HEC events with time, host, index and sourcetype
    hec = receivers["hec"].accepted
    assert len(hec) == n and {e["index"] for e in hec} == {"sec"} and {e["sourcetype"] for e in hec} == {"wormsign:alert"}
    assert {e["event"]["wormsign"]["alert"]["key"] for e in hec} == {d["_id"] for d in es}
    # syslog over TCP: one RFC 5424 message per alert, its key and rule in the structured data
    tcp = receivers["tcp"].messages
    assert len(tcp) == n
    sd = [m.as_dict()["sd"]["wormsign@32473"] for m in tcp]
    assert {s["key"] for s in sd} == {d["_id"] for d in es}
    first = tcp[0].as_dict()
    assert first["version"] == 1 and first["appname"] == "wormsign" and first["msgid"] == "alert"
    assert first["facility"] == "auth" and first["msg"].startswith("\ufeff[")
    # syslog over UDP: the high and critical alerts only
    highs = [a for a in findings.alerts if a["severity"] in ("high", "critical")]
    receivers["udp"].drain(len(highs))
    assert len(receivers["udp"].messages) == len(highs) == outcomes["syslog-udp"].sent > 0
    assert {m.as_dict()["severity"] for m in receivers["udp"].messages} <= {"err", "crit"}
    # the webhook: one message per incident of medium or more, at the secret URL
    wanted = [i for i in findings.incidents if i["severity"] in ("medium", "high", "critical")]
    assert len(receivers["hook"].accepted) == len(wanted) == outcomes["chat"].sent > 0
    assert {r["path"] for r in receivers["hook"].requests} == {"/hooks/abc"}
    assert any("patient zero" in m["text"] for m in receivers["hook"].accepted)
    with Case.open(str(case), read_only=True) as c:
        assert sent_keys(c, "chat") == {incident_key(i) for i in wanted}
        assert len(sent_keys(c, "es")) == n


def test_a_second_run_sends_nothing_new(case: Path, tmp_path: Path, receivers: dict[str, Any]) -> None:
    env = {**ENV, "T_HOOK": receivers["hook"].url}
    conf = load_config(_conf(tmp_path, receivers))
    with Case.open(str(case)) as c:
        forward(c, conf, env=env, sleep=lambda s: None)
    before = {k: len(v.requests) for k, v in receivers.items() if isinstance(v, HttpReceiver)}
    tcp_before = len(receivers["tcp"].messages)
    with Case.open(str(case)) as c:
        again = forward(c, conf, env=env, sleep=lambda s: None)
    assert all(o.sent == 0 and o.already == o.findings > 0 for o in again)
    assert {k: len(v.requests) for k, v in receivers.items() if isinstance(v, HttpReceiver)} == before
    assert len(receivers["tcp"].messages) == tcp_before


def test_a_receiver_that_fails_twice_then_accepts_gets_each_alert_once(case: Path, tmp_path: Path) -> None:
    es = HttpReceiver("bulk", fail_first=2, fail_status=503)
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump({**FAST, "destinations": [
            {"name": "es", "type": "elasticsearch", "url": es.url, "index": "w"}]}))
        waits: list[float] = []
        with Case.open(str(case)) as c:
            (out,) = forward(c, load_config(path), env={}, sleep=waits.append)
            n = len(Findings.load(c).alerts)
        assert out.error is None and out.sent == n and out.retried == ["HTTP 503", "HTTP 503"]
        assert waits == [0.01, 0.02]  # the wait doubles
        assert len(es.accepted) == n and len({d["_id"] for d in es.accepted}) == n
        assert len(es.requests) == 2 + -(-n // 500)
    finally:
        es.close()


def test_a_receiver_that_never_answers_is_given_up_and_tried_next_run(case: Path, tmp_path: Path) -> None:
    es = HttpReceiver("bulk", fail_first=100, fail_status=502)
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump({**FAST, "retries": 2, "destinations": [
            {"name": "es", "type": "elasticsearch", "url": es.url, "index": "w"}]}))
        with Case.open(str(case)) as c:
            (out,) = forward(c, load_config(path), env={}, sleep=lambda s: None)
            assert out.sent == 0 and out.failed == out.findings and "gave up after 3 tries" in (out.error or "")
            assert len(es.requests) == 3 and sent_keys(c, "es") == set()
        es.fail_first = 0
        with Case.open(str(case)) as c:
            (out,) = forward(c, load_config(path), env={}, sleep=lambda s: None)
        assert out.error is None and out.sent == out.findings == len(es.accepted)
    finally:
        es.close()


def test_cli_names_no_secret_and_fails_on_a_wrong_token(case: Path, tmp_path: Path) -> None:
    es = HttpReceiver("bulk", auth="ApiKey right-key")
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump({**FAST, "destinations": [
            {"name": "es", "type": "elasticsearch", "url": es.url, "index": "w", "api_key_env": "T_KEY"}]}))
        res = CliRunner().invoke(app, ["forward", "--case", str(case), "--config", str(path), "--json"],
                                 env={"T_KEY": "wrong-key-789"})
        assert res.exit_code == 1
        doc = json.loads(res.stdout)
        (d,) = doc["destinations"]
        assert d["sent"] == 0 and "HTTP 401" in d["error"] and len(es.requests) == 1  # 4xx: no retry
        assert "wrong-key-789" not in res.output
        res = CliRunner().invoke(app, ["forward", "--case", str(case), "--config", str(path)],
                                 env={"T_KEY": "right-key"})
        assert res.exit_code == 0, res.output
        assert "right-key" not in res.output and f"sent {d['findings']}" in res.output
        assert len(es.accepted) == d["findings"]
        res = CliRunner().invoke(app, ["forward", "--case", str(case), "--config", str(path), "--json"],
                                 env={"T_KEY": "right-key"})
        assert json.loads(res.stdout)["destinations"][0]["sent"] == 0
        # a missing environment variable is named, its (absent) value is not needed
        res = CliRunner().invoke(app, ["forward", "--case", str(case), "--config", str(path), "--json",
                                       "--dry-run"], env={})
        assert res.exit_code == 0 and json.loads(res.stdout)["destinations"][0]["already"] == d["findings"]
    finally:
        es.close()


def test_bad_destination_files_are_named(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump({"destinations": [{"name": "x", "type": "kafka"}]}))
    with pytest.raises(ConfigError, match="destination 1"):
        load_config(p)
    p.write_text(yaml.safe_dump({"destinations": [{"name": "s", "type": "splunk_hec", "url": "http://x"}]}))
    with pytest.raises(ConfigError, match="token_env"):
        load_config(p)
    p.write_text(yaml.safe_dump({"destinations": [{"name": "a", "type": "webhook", "url": "http://x"},
                                                  {"name": "a", "type": "webhook", "url": "http://y"}]}))
    with pytest.raises(ConfigError, match="used twice"):
        load_config(p)


def test_chat_text_pings_nobody() -> None:
    inc = {"id": "INC-0001", "type": "outbreak", "severity": "critical", "title": "Outbreak from <!channel>",
           "first_seen": "t0", "last_seen": "t1", "patient_zero": "<https://evil|click>",
           "hosts": [{"host": "a"}], "actions": {"isolate": ["<@U123>"]}}
    text = chat_text(inc)
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U123&gt;" in text


def test_a_chat_webhook_that_fails_twice_posts_each_incident_once(case: Path, tmp_path: Path) -> None:
    hook = HttpReceiver("hook", fail_first=2, fail_status=500)
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump({**FAST, "destinations": [
            {"name": "chat", "type": "webhook", "url_env": "HOOK"}]}))
        with Case.open(str(case)) as c:
            (out,) = forward(c, load_config(path), env={"HOOK": hook.url}, sleep=lambda s: None)
            n = len(Findings.load(c).incidents)
        assert out.error is None and out.sent == n > 1 and out.retried == ["HTTP 500", "HTTP 500"]
        texts = [m["text"] for m in hook.accepted]
        assert len(texts) == n == len(set(texts)) and len(hook.requests) == n + 2
    finally:
        hook.close()
