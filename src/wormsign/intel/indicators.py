"""The indicator model: types, value normalisation, family names and the package's tunables."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

#: Indicator types the store holds.
TYPES: tuple[str, ...] = (
    "sha256",
    "sha1",
    "md5",
    "ip",
    "ip_port",
    "domain",
    "url",
    "cert_sha1",
    "cert_sha256",
)
HASH_TYPES: tuple[str, ...] = ("sha256", "sha1", "md5")
CERT_TYPES: tuple[str, ...] = ("cert_sha1", "cert_sha256")

_HEX = re.compile(r"^[0-9a-f]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_HASH_LEN = {64: "sha256", 40: "sha1", 32: "md5"}


class IndicatorError(ValueError):
    """A value that is not a valid indicator (the message says why)."""


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator of one family, from one source."""

    type: str
    value: str
    family: str
    source: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    ip: str | None = None  # for ip and ip_port
    port: int | None = None  # for ip_port
    asn: int | None = None
    as_name: str | None = None
    country: str | None = None
    status: str | None = None
    incident: str | None = None

    def with_(self, **kw: Any) -> Indicator:
        return replace(self, **kw)


@cache
def config() -> dict[str, Any]:
    """The tunables in ``intel.yaml``."""
    text = resources.files("wormsign.intel").joinpath("intel.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


@cache
def _aliases() -> dict[str, str]:
    text = resources.files("wormsign.intel").joinpath("families.yaml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for canon, names in (yaml.safe_load(text) or {}).items():
        for n in [canon, *names]:
            out[_fold(str(n))] = str(canon)
    return out


def _fold(name: str) -> str:
    """Lower case, dashes for spaces; only letters, digits, ``.``, ``_`` and ``-``, starting with one of the first two."""
    s = re.sub(r"[\s_]+", "-", name.strip().lower())
    return re.sub(r"^[^a-z0-9]+", "", re.sub(r"[^a-z0-9._-]", "", s))


def family(name: str | None) -> str | None:
    """The canonical family name (``Heodo`` -> ``emotet``, ``QakBot`` -> ``qakbot``); None for blank."""
    if name is None:
        return None
    folded = _fold(str(name))[: config()["limits"]["max_field_chars"]]
    if not folded or folded in ("-", "none", "null", "unknown", "n/a"):
        return None
    return _aliases().get(folded, folded)


def bound(v: Any) -> str | None:
    """A short free-text field (family, source, AS name), cut to the configured size."""
    if v is None:
        return None
    s = str(v).strip()
    return s[: config()["limits"]["max_field_chars"]] or None


def canon_ip(v: str) -> str:
    """A normalised IP address (IPv4-mapped IPv6 unwrapped); IndicatorError when it is not one."""
    s = v.strip().strip("[]")
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        raise IndicatorError(f"not an IP address: {v[:80]!r}") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return str(addr)


def canon_port(v: Any) -> int:
    try:
        p = int(str(v).strip())
    except ValueError:
        raise IndicatorError(f"not a port: {str(v)[:20]!r}") from None
    if not 0 < p < 65536:
        raise IndicatorError(f"port out of range: {p}")
    return p


def make(type_: str, value: str, **kw: Any) -> Indicator:
    """Build an indicator of a given type, normalising and checking the value."""
    limit = config()["limits"]["max_value_chars"]
    if value is None or not str(value).strip():
        raise IndicatorError("empty indicator value")
    value = str(value).strip()
    if len(value) > limit:
        raise IndicatorError(f"indicator value of {len(value)} characters (limit {limit})")
    if type_ not in TYPES:
        raise IndicatorError(f"unknown indicator type {type_!r}")
    fam = family(kw.pop("family", None))
    if fam is None:
        raise IndicatorError(f"no family for {value[:80]!r}")
    ip = port = None
    if type_ in HASH_TYPES or type_ in CERT_TYPES:
        value = value.lower().replace(":", "")
        want = 40 if type_.endswith("sha1") else 64 if type_.endswith("sha256") else 32
        if len(value) != want or not _HEX.match(value):
            raise IndicatorError(f"not a {type_} hash: {value[:80]!r}")
    elif type_ == "ip":
        value = ip = canon_ip(value)
    elif type_ == "ip_port":
        host, sep, p = value.rpartition(":")
        if not sep:
            raise IndicatorError(f"not ip:port: {value[:80]!r}")
        ip, port = canon_ip(host), canon_port(p)
        value = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    elif type_ == "domain":
        value = value.lower().rstrip(".")
        if not _DOMAIN.match(value):
            raise IndicatorError(f"not a domain name: {value[:80]!r}")
    elif type_ == "url" and ("://" not in value or any(c.isspace() for c in value)):
        raise IndicatorError(f"not a URL: {value[:80]!r}")
    for k in ("source", "as_name", "country", "status", "incident"):
        if k in kw:
            kw[k] = bound(kw[k])
    kw.setdefault("source", "unknown")
    return Indicator(type_, value, fam, ip=ip, port=port, **kw)


def classify(value: str) -> str:
    """Guess the type of a bare value (plain lists): hash by length, ip, ip:port, url, domain."""
    v = value.strip()
    limit = config()["limits"]["max_value_chars"]
    if len(v) > limit:
        raise IndicatorError(f"indicator value of {len(v)} characters (limit {limit})")
    low = v.lower()
    if "://" in v:
        return "url"
    if _HEX.match(low) and len(low) in _HASH_LEN:
        return _HASH_LEN[len(low)]
    try:
        canon_ip(v)
        return "ip"
    except IndicatorError:
        pass
    host, sep, port = v.rpartition(":")
    if sep and port.isdigit():
        try:
            canon_ip(host)
            return "ip_port"
        except IndicatorError:
            pass
    if _DOMAIN.match(low.rstrip(".")):
        return "domain"
    raise IndicatorError(f"cannot tell what kind of indicator {v[:80]!r} is")


def net24(ip: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))
