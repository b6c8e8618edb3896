"""Forward a hunt's findings: Elasticsearch ``_bulk``, Splunk HEC, syslog (RFC 5424) and webhooks.

Alerts go out as ECS documents (:mod:`wormsign.outputs.ecs`) to Elasticsearch, Splunk and syslog;
incidents go to webhooks, one chat message each. Every finding has a key that stays the same
between hunts (:func:`~wormsign.outputs.findings.alert_key`, :func:`incident_key`): it is the
``_id`` of an Elasticsearch document (a resend overwrites, never duplicates), and the case
records which keys each destination took (the ``forwarded`` table), so that a second run sends
only what is new. A batch is recorded once the destination acknowledged it.

Failures that may pass (no connection, a timeout, HTTP 429 or 5xx, bulk items refused for load)
are tried again with a doubling wait (forward.yaml); others (HTTP 4xx: a wrong token, a bad
index) stop that destination at once. One destination failing never stops the others.

What "no duplicates" can mean differs by receiver: Elasticsearch overwrites by ``_id``, so a
batch sent again after a lost answer duplicates nothing; a webhook gets one message a request,
recorded as soon as it is taken. Splunk HEC (without indexer acknowledgement) and syslog give no
id to overwrite by: a batch whose answer was lost (HEC) or whose connection broke half way (TCP
syslog) is sent again whole, and the receiver may then hold part of it twice; UDP syslog has no
answer at all, so what it loses is lost.

Secrets (API keys, tokens, passwords, webhook URLs) are read from environment variables that the
configuration names; they are never printed, logged or written to the case: errors name the
destination and the HTTP status only.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

from wormsign import __version__
from wormsign.outputs import ecs
from wormsign.outputs.findings import Findings, epoch_us, incident_key, level, settings
from wormsign.text import printable

log = logging.getLogger(__name__)

TYPES = ("elasticsearch", "splunk_hec", "syslog", "webhook")
SEVERITY_ORDER = ("low", "medium", "high", "critical")
TABLE = "forwarded"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    destination VARCHAR, key VARCHAR, kind VARCHAR, sent_at TIMESTAMPTZ)"""


class ConfigError(ValueError):
    """The destinations file is wrong (names the destination and the key)."""


class Retryable(Exception):
    """A failure that may pass: try again after a wait."""


class Fatal(Exception):
    """A failure that will not pass by trying again (a rejected token, a bad request)."""


@dataclass
class Item:
    """One finding to send: its key, kind (``alert`` or ``incident``), severity and document."""

    key: str
    kind: str
    severity: str
    doc: dict[str, Any]


@dataclass
class Outcome:
    """What happened at one destination."""

    name: str
    type: str
    findings: int = 0
    already: int = 0
    sent: int = 0
    failed: int = 0
    attempts: int = 0
    error: str | None = None
    retried: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "type", "findings", "already", "sent", "failed",
                                               "attempts", "error", "retried")}


# -- configuration ---------------------------------------------------------------------------
def defaults() -> dict[str, Any]:
    """forward.yaml beside this module."""
    text = resources.files("wormsign.outputs").joinpath("forward.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


def load_config(path: str | Path | None) -> dict[str, Any]:
    """The defaults, overridden by the destinations file ``path``; each destination checked."""
    conf = defaults()
    if path is not None:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read the destinations file: {e}") from e
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: not a mapping with a 'destinations' list")
        conf.update(doc)
    dests = conf.get("destinations") or []
    if not isinstance(dests, list):
        raise ConfigError(f"{path}: 'destinations' is not a list")
    names = set()
    for i, d in enumerate(dests):
        where = f"{path}: destination {i + 1}"
        if not isinstance(d, dict) or not d.get("name") or d.get("type") not in TYPES:
            raise ConfigError(f"{where}: needs a name and a type ({', '.join(TYPES)})")
        if d["name"] in names:
            raise ConfigError(f"{where}: the name {d['name']!r} is used twice")
        names.add(d["name"])
        need = {"elasticsearch": ("url", "index"), "splunk_hec": ("url", "token_env"),
                "syslog": ("host", "port"), "webhook": ()}[d["type"]]
        missing = [k for k in need if not d.get(k)]
        if d["type"] == "webhook" and not (d.get("url") or d.get("url_env")):
            missing.append("url_env (or url)")
        if missing:
            raise ConfigError(f"{where} ({d['name']}): missing {', '.join(missing)}")
        if d.get("min_severity") not in (None, *SEVERITY_ORDER):
            raise ConfigError(f"{where} ({d['name']}): min_severity is one of {', '.join(SEVERITY_ORDER)}")
        if d["type"] == "syslog" and d.get("transport", "tcp") not in ("tcp", "udp"):
            raise ConfigError(f"{where} ({d['name']}): transport is tcp or udp")
    return conf


def _secret(dest: dict[str, Any], key: str, env: dict[str, str]) -> str | None:
    """The value of the environment variable the destination names in ``key`` (``*_env``)."""
    var = dest.get(key)
    if not var:
        return None
    value = env.get(str(var))
    if not value:
        raise Fatal(f"the environment variable {var} ({key}) is not set")
    return value


# -- what is sent ----------------------------------------------------------------------------
def items(findings: Findings) -> tuple[list[Item], list[Item]]:
    """(alerts as ECS documents, incidents) of the hunt, each with its key."""
    alerts = [Item(key, "alert", findings_severity(doc), doc) for key, doc in ecs.documents(findings)]
    incidents = [Item(incident_key(i), "incident", level(i.get("severity")), i) for i in findings.incidents]
    return alerts, incidents


def findings_severity(doc: dict[str, Any]) -> str:
    """The level of an ECS alert document (its second tag)."""
    tags = doc.get("tags") or []
    return level(tags[1]) if len(tags) > 1 else "low"


# -- transports --------------------------------------------------------------------------------
def _client(dest: dict[str, Any], conf: dict[str, Any]) -> httpx.Client:
    verify: Any = dest.get("verify", True)
    if dest.get("ca_file"):
        verify = ssl.create_default_context(cafile=str(dest["ca_file"]))
    return httpx.Client(timeout=float(conf["timeout_s"]), verify=verify, follow_redirects=False,
                        headers={"User-Agent": f"wormsign/{__version__}"})


def _post(client: httpx.Client, url: str, **kw: Any) -> httpx.Response:
    try:
        r = client.post(url, **kw)
    except httpx.TransportError as e:  # refused, reset, timed out: no answer
        raise Retryable(type(e).__name__) from None
    if r.status_code == 429 or r.status_code >= 500:
        raise Retryable(f"HTTP {r.status_code}")
    if r.status_code >= 300:
        raise Fatal(f"HTTP {r.status_code}: {printable(r.text[:200])}")
    return r


class Elasticsearch:
    """ECS alerts to ``{url}/_bulk``: ``index`` actions whose ``_id`` is the alert's key."""

    def __init__(self, dest: dict[str, Any], conf: dict[str, Any], env: dict[str, str]) -> None:
        self.url = str(dest["url"]).rstrip("/") + "/_bulk"
        self.index = str(dest["index"])
        self.headers = {"Content-Type": "application/x-ndjson"}
        key = _secret(dest, "api_key_env", env)
        if key:
            self.headers["Authorization"] = f"ApiKey {key}"
        self.auth = None
        if dest.get("username"):
            self.auth = (str(dest["username"]), _secret(dest, "password_env", env) or "")
        self.client = _client(dest, conf)

    def send(self, batch: list[Item]) -> None:
        lines = []
        for it in batch:
            lines.append(json.dumps({"index": {"_index": self.index, "_id": it.key}}))
            lines.append(json.dumps(it.doc, ensure_ascii=False))
        body = ("\n".join(lines) + "\n").encode("utf-8")
        r = _post(self.client, self.url, content=body, headers=self.headers, auth=self.auth)
        try:
            answer = r.json()
        except ValueError:
            raise Fatal("the _bulk answer is not JSON") from None
        if not answer.get("errors"):
            return
        statuses = [next(iter(x.values())).get("status", 0) for x in answer.get("items") or []]
        if any(s == 429 or s >= 500 for s in statuses):
            raise Retryable("bulk items refused for load")  # resending is safe: same _id
        bad = [s for s in statuses if s >= 300]
        raise Fatal(f"Elasticsearch refused {len(bad)} of {len(batch)} documents (HTTP {sorted(set(bad))})")

    def close(self) -> None:
        self.client.close()


class SplunkHec:
    """ECS alerts as Splunk HTTP Event Collector events (``Authorization: Splunk TOKEN``)."""

    def __init__(self, dest: dict[str, Any], conf: dict[str, Any], env: dict[str, str]) -> None:
        url = str(dest["url"]).rstrip("/")
        self.url = url if url.endswith("/services/collector/event") else url + "/services/collector/event"
        self.headers = {"Authorization": f"Splunk {_secret(dest, 'token_env', env)}",
                        "Content-Type": "application/json"}
        self.meta = {k: str(dest[k]) for k in ("index", "sourcetype", "source") if dest.get(k)}
        self.meta.setdefault("sourcetype", "wormsign:alert")
        self.meta.setdefault("source", "wormsign")
        self.client = _client(dest, conf)

    def send(self, batch: list[Item]) -> None:
        events = []
        for it in batch:
            us = epoch_us(it.doc.get("@timestamp"))
            ev: dict[str, Any] = {"event": it.doc, **self.meta}
            if us is not None:
                ev["time"] = round(us / 1_000_000, 6)
            host = (it.doc.get("host") or {}).get("name")
            if host:
                ev["host"] = host
            events.append(json.dumps(ev, ensure_ascii=False))
        r = _post(self.client, self.url, content="\n".join(events).encode("utf-8"), headers=self.headers)
        try:
            code = r.json().get("code", 0)
        except ValueError:
            code = 0
        if code not in (0, None):
            raise Fatal(f"HEC answered code {code}")

    def close(self) -> None:
        self.client.close()


def _sd_value(value: Any) -> str:
    """An RFC 5424 PARAM-VALUE: ``"``, ``\\`` and ``]`` escaped with a backslash, controls shown."""
    text = printable(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(it: Item, conf: dict[str, Any], hostname: str, app: str = "wormsign") -> bytes:
    """One RFC 5424 message for an ECS alert document."""
    d = it.doc
    sev = int(settings()["syslog_severity"][it.severity])
    pri = int(conf["syslog_facility"]) * 8 + sev
    ts = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    ws = d.get("wormsign") or {}
    params = {
        "key": it.key,
        "id": (d.get("event") or {}).get("id"),
        "rule": (ws.get("alert") or {}).get("rule"),
        "severity": it.severity,
        "time": d.get("@timestamp"),
        "host": (d.get("host") or {}).get("name"),
        "source": (d.get("source") or {}).get("address"),
        "incident": (ws.get("incident") or {}).get("id"),
        "attack": ",".join((d.get("threat") or {}).get("technique", {}).get("subtechnique", {}).get("id", [])
                           or (d.get("threat") or {}).get("technique", {}).get("id", [])),
    }
    sd = "[" + str(conf["syslog_sd_id"]) + "".join(
        f' {k}="{_sd_value(v)}"' for k, v in params.items() if v not in (None, "")) + "]"
    host = "".join(c for c in hostname if 33 <= ord(c) <= 126)[:255] or "-"
    head = f"<{pri}>1 {ts} {host} {app[:48]} - alert {sd} "
    msg = printable(f"[{it.severity}] {(d.get('rule') or {}).get('name')}: {d.get('message')}")
    out = head.encode("utf-8") + b"\xef\xbb\xbf" + msg.encode("utf-8")
    most = int(conf["syslog_max_bytes"])
    return out[:most].decode("utf-8", "ignore").encode("utf-8") if len(out) > most else out


class Syslog:
    """ECS alerts as RFC 5424 messages over TCP (RFC 6587 octet counting) or UDP (one a datagram)."""

    def __init__(self, dest: dict[str, Any], conf: dict[str, Any], env: dict[str, str]) -> None:
        self.addr = (str(dest["host"]), int(dest["port"]))
        self.udp = dest.get("transport", "tcp") == "udp"
        self.conf = conf
        self.app = str(dest.get("app_name") or "wormsign")
        self.hostname = socket.gethostname()
        self.timeout = float(conf["timeout_s"])

    def send(self, batch: list[Item]) -> None:
        msgs = [syslog_message(it, self.conf, self.hostname, self.app) for it in batch]
        try:
            if self.udp:
                with socket.socket(socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET,
                                   socket.SOCK_DGRAM) as s:
                    for m in msgs:
                        s.sendto(m, self.addr)
                return
            with socket.create_connection(self.addr, timeout=self.timeout) as s:
                s.sendall(b"".join(str(len(m)).encode() + b" " + m for m in msgs))
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            raise Retryable(type(e).__name__) from None

    def close(self) -> None:
        pass


def _chat(value: Any) -> str:
    """Attacker-written text in a chat message: Slack's (and Teams') control characters escaped,
    so a host named ``<!channel>`` pings nobody and no link is forged."""
    return printable(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chat_text(inc: dict[str, Any]) -> str:
    """The chat message of an incident."""
    hosts = [str(h.get("host")) for h in inc.get("hosts") or [] if isinstance(h, dict)]
    lines = [f"*wormsign {level(inc.get('severity'))}*: {_chat(inc.get('title') or inc.get('type'))}",
             f"{_chat(inc.get('id'))} ({_chat(inc.get('type'))}), {_chat(inc.get('first_seen'))} to "
             f"{_chat(inc.get('last_seen'))}, {len(hosts)} hosts"]
    if inc.get("patient_zero"):
        lines.append(f"patient zero: {_chat(inc['patient_zero'])}")
    isolate = (inc.get("actions") or {}).get("isolate") or []
    if isolate:
        lines.append("isolate first: " + ", ".join(_chat(h) for h in isolate[:10]))
    return "\n".join(lines)


class Webhook:
    """Incidents as chat messages: ``{"text": ...}``, which Slack and Teams incoming webhooks take."""

    def __init__(self, dest: dict[str, Any], conf: dict[str, Any], env: dict[str, str]) -> None:
        self.url = _secret(dest, "url_env", env) or str(dest.get("url"))
        self.client = _client(dest, conf)

    def send(self, batch: list[Item]) -> None:
        for it in batch:  # one item a batch (forward): a retry resends only the one that failed
            _post(self.client, self.url, json={"text": chat_text(it.doc)})

    def close(self) -> None:
        self.client.close()


TRANSPORTS: dict[str, Callable[..., Any]] = {
    "elasticsearch": Elasticsearch, "splunk_hec": SplunkHec, "syslog": Syslog, "webhook": Webhook,
}


# -- the record of what was sent -----------------------------------------------------------------
def sent_keys(case: Any, name: str) -> set[str]:
    """The keys the destination ``name`` already took."""
    if not case.engine.has_table(TABLE):
        return set()
    return {r[0] for r in case.rows(f"SELECT key FROM {TABLE} WHERE destination = ?", [name])}


def _record(case: Any, name: str, batch: Iterable[Item]) -> None:
    now = datetime.now(UTC)
    rows = [(name, it.key, it.kind, now) for it in batch]
    with case.transaction():
        case.engine.execute(
            f"INSERT INTO {TABLE} SELECT * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::TIMESTAMPTZ[]))",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
        )


# -- forwarding ----------------------------------------------------------------------------------
def _deliver(transport: Any, batch: list[Item], conf: dict[str, Any], out: Outcome,
             sleep: Callable[[float], None]) -> None:
    wait = float(conf["backoff_s"])
    for attempt in range(int(conf["retries"]) + 1):
        out.attempts += 1
        try:
            transport.send(batch)
            return
        except Retryable as e:
            out.retried.append(str(e))
            if attempt == int(conf["retries"]):
                raise Fatal(f"gave up after {attempt + 1} tries: {e}") from None
            pause = min(wait, float(conf["backoff_max_s"]))
            log.info("forward to %s: %d findings not taken (%s); trying again in %.1f s",
                     out.name, len(batch), e, pause)
            sleep(pause)
            wait *= 2


def forward(case: Any, conf: dict[str, Any], *, only: Iterable[str] = (), env: dict[str, str] | None = None,
            dry_run: bool = False, sleep: Callable[[float], None] = time.sleep) -> list[Outcome]:
    """Send the hunt's findings of ``case`` (opened for writing) to every destination of ``conf``
    (those named in ``only``, when given) that does not have them yet; record what each took."""
    import os

    env = dict(os.environ) if env is None else env
    findings = Findings.load(case)
    alerts, incidents = items(findings)
    if not dry_run:
        case.engine.execute(DDL)
    wanted = set(only)
    outcomes = []
    for dest in conf.get("destinations") or []:
        if wanted and dest["name"] not in wanted:
            continue
        out = Outcome(str(dest["name"]), str(dest["type"]))
        outcomes.append(out)
        floor = SEVERITY_ORDER.index(dest.get("min_severity") or "low")
        pool = incidents if dest["type"] == "webhook" else alerts
        pool = [it for it in pool if SEVERITY_ORDER.index(it.severity) >= floor]
        done = sent_keys(case, out.name)
        todo = [it for it in pool if it.key not in done]
        out.findings, out.already = len(pool), len(pool) - len(todo)
        if dry_run or not todo:
            continue
        try:
            transport = TRANSPORTS[dest["type"]](dest, conf, env)
        except Fatal as e:
            out.error, out.failed = str(e), len(todo)
            continue
        # a chat message per request, so that a retry never posts one twice
        size = 1 if dest["type"] == "webhook" else max(1, int(dest.get("batch") or conf["batch"]))
        try:
            for i in range(0, len(todo), size):
                batch = todo[i : i + size]
                try:
                    _deliver(transport, batch, conf, out, sleep)
                except Fatal as e:
                    out.error, out.failed = str(e), len(todo) - out.sent
                    log.error("forward to %s: %s", out.name, e)
                    break
                _record(case, out.name, batch)
                out.sent += len(batch)
                log.info("forward to %s: %d findings taken", out.name, len(batch))
        finally:
            transport.close()
    return outcomes
