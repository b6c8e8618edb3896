"""The logs of one Zeek sensor: field lists and types as Zeek writes them, in TSV or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from wormsign.simulate.gzout import open_plain

_C = [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
      ("id.resp_h", "addr"), ("id.resp_p", "port")]

#: log name -> [(field, zeek type)], as Zeek 6 writes them.
LOGS: dict[str, list[tuple[str, str]]] = {
    "conn": _C + [
        ("proto", "enum"), ("service", "string"), ("duration", "interval"), ("orig_bytes", "count"),
        ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
        ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"), ("orig_ip_bytes", "count"),
        ("resp_pkts", "count"), ("resp_ip_bytes", "count"), ("tunnel_parents", "set[string]"),
    ],
    "dns": _C + [
        ("proto", "enum"), ("trans_id", "count"), ("rtt", "interval"), ("query", "string"), ("qclass", "count"),
        ("qclass_name", "string"), ("qtype", "count"), ("qtype_name", "string"), ("rcode", "count"),
        ("rcode_name", "string"), ("AA", "bool"), ("TC", "bool"), ("RD", "bool"), ("RA", "bool"), ("Z", "count"),
        ("answers", "vector[string]"), ("TTLs", "vector[interval]"), ("rejected", "bool"),
    ],
    "smb_files": _C + [
        ("fuid", "string"), ("action", "enum"), ("path", "string"), ("name", "string"), ("size", "count"),
        ("prev_name", "string"), ("times.modified", "time"), ("times.accessed", "time"),
        ("times.created", "time"), ("times.changed", "time"), ("data_offset_req", "count"),
        ("data_len_req", "count"), ("data_len_rsp", "count"),
    ],
    "smb_mapping": _C + [
        ("path", "string"), ("service", "string"), ("native_file_system", "string"), ("share_type", "string"),
    ],
    "dce_rpc": _C + [
        ("rtt", "interval"), ("named_pipe", "string"), ("endpoint", "string"), ("operation", "string"),
    ],
    "ntlm": _C + [
        ("username", "string"), ("hostname", "string"), ("domainname", "string"),
        ("server_nb_computer_name", "string"), ("server_dns_computer_name", "string"),
        ("server_tree_name", "string"), ("success", "bool"),
    ],
    "kerberos": _C + [
        ("request_type", "string"), ("client", "string"), ("service", "string"), ("success", "bool"),
        ("error_msg", "string"), ("from", "time"), ("till", "time"), ("cipher", "string"),
        ("forwardable", "bool"), ("renewable", "bool"), ("client_cert_subject", "string"),
        ("client_cert_fuid", "string"), ("server_cert_subject", "string"), ("server_cert_fuid", "string"),
    ],
    "dhcp": [
        ("ts", "time"), ("uids", "set[string]"), ("client_addr", "addr"), ("server_addr", "addr"),
        ("mac", "string"), ("host_name", "string"), ("client_fqdn", "string"), ("domain", "string"),
        ("requested_addr", "addr"), ("assigned_addr", "addr"), ("lease_time", "interval"),
        ("client_message", "string"), ("server_message", "string"), ("msg_types", "vector[string]"),
        ("duration", "interval"),
    ],
}
NAMES = tuple(LOGS)


def header(log: str, open_ts: str) -> bytes:
    fields = LOGS[log]
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{log}",
        f"#open\t{open_ts}",
        "#fields\t" + "\t".join(f for f, _ in fields),
        "#types\t" + "\t".join(t for _, t in fields),
    ]
    return ("\n".join(lines) + "\n").encode()


def _tsv_value(v: Any) -> str:
    if v is None:
        return "-"
    if v is True:
        return "T"
    if v is False:
        return "F"
    if isinstance(v, (list, tuple)):
        return ",".join(_tsv_value(x) for x in v) if v else "(empty)"
    s = str(v)
    if not s:
        return "(empty)"
    return s.replace("\\", "\\x5c").replace("\t", "\\x09").replace("\n", "\\x0a") if (
        "\t" in s or "\n" in s
    ) else s


def tsv_line(values: tuple[Any, ...]) -> str:
    """One TSV row; plain strings and ints (the common case) go straight through."""
    return "\t".join([
        v if v.__class__ is str and v and "\t" not in v and "\n" not in v
        else ("-" if v is None else (str(v) if v.__class__ is int else _tsv_value(v)))
        for v in values
    ])


def tsv_row(log: str, values: tuple[Any, ...]) -> str:
    """``tsv_line`` with the log's name first, as ``json_line`` takes it."""
    return tsv_line(values)


def _json_value(kind: str, v: Any) -> Any:
    if kind in ("time", "interval"):
        return float(v)
    if kind in ("port", "count"):
        return int(v)
    return list(v) if isinstance(v, tuple) else v


def json_line(log: str, values: tuple[Any, ...]) -> bytes:
    """Zeek's JSON writer: unset fields are left out, times are epoch seconds."""
    doc = {f: _json_value(t, v) for (f, t), v in zip(LOGS[log], values, strict=True) if v is not None}
    return orjson.dumps(doc) + b"\n"


class ZeekWriter:
    """One file per log per day, each opened with its header and closed with ``#close`` (TSV)."""

    def __init__(self, directory: str, fmt: str, level: int, opener: Callable[[str, int], Any] | None = None) -> None:
        self.dir = directory
        self.fmt = fmt
        self.level = level
        self._open = opener or open_plain
        self._fh: dict[str, Any] = {}

    def open_day(self, day: str, open_ts: str) -> None:
        self.close()
        import os

        os.makedirs(os.path.join(self.dir, day), exist_ok=True)
        self._close_ts = open_ts[:11] + "23-59-59"
        for log in NAMES:
            path = os.path.join(self.dir, day, f"{log}.log.gz")
            fh = self._open(path, self.level)
            if self.fmt == "tsv":
                fh.write(header(log, open_ts))
            self._fh[log] = fh

    def line_maker(self) -> Callable[[str, tuple[Any, ...]], Any]:
        """How a row becomes a line in this writer's format (``tsv_row`` or ``json_line``)."""
        return tsv_row if self.fmt == "tsv" else json_line

    def write(self, log: str, lines: list[Any]) -> None:
        """Rows already made into lines by ``line_maker()``."""
        fh = self._fh[log]
        if not lines:
            return
        if self.fmt == "tsv":
            fh.write(("\n".join(lines) + "\n").encode())
        else:
            fh.write(b"".join(lines))

    def close(self) -> None:
        for fh in self._fh.values():
            if self.fmt == "tsv":
                fh.write(f"#close\t{self._close_ts}\n".encode())
            fh.close()
        self._fh = {}

