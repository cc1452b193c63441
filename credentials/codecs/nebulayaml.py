"""Nebula host configuration (pure Python, no Django): the config dict, checks of its parts, and its YAML.

:func:`render_host_config` builds the config dict (sections ``pki``, ``lighthouse``, ``static_host_map``,
``listen``, ``punchy``, ``relay``, ``tun``, ``firewall``, ``logging``); :func:`validate_firewall_rules`,
:func:`validate_unsafe_routes` and :func:`parse_host_port` check the parts a person enters. Errors are
:class:`NebulaConfigError` (a ``ValueError``).

:func:`dump` writes the YAML with PyYAML in block style, keys in the builder's order, multi-line strings (PEM)
as literal blocks. A string is written plain only if no YAML reader could take it for something else: PyYAML
already quotes what it would read back as another type (``"22"``, ``"yes"``, ``"0x1F"``, ``"~"``, ``""``,
dates, ``"1:20"``); nebula reads its config with Go's YAML, so ``y``/``n``, ``1e3``, ``0o17`` and IPv6
addresses written with ``::`` are quoted too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

__all__ = [
    "DEFAULT_INBOUND",
    "DEFAULT_OUTBOUND",
    "NebulaConfigError",
    "dump",
    "parse_host_port",
    "render_host_config",
    "render_host_config_yaml",
    "validate_firewall_rules",
    "validate_unsafe_routes",
]


class NebulaConfigError(ValueError):
    """An invalid value for a Nebula host configuration."""


# ==================================================================================================
# YAML


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper with literal blocks for multi-line strings and the extra quoting described above."""


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def _quote(pattern: str, first: str | None) -> None:
    """Quote every string that ``pattern`` matches (a plain scalar some reader takes for another type)."""
    _Dumper.add_implicit_resolver("tag:stoneage,quoted", re.compile(pattern), list(first) if first else None)


_quote(r"^[yYnN]$", "yYnN")  # YAML 1.1 booleans that PyYAML reads as strings
_quote(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$", "-+.0123456789")  # 1e3, 1.
_quote(r"^[-+]?0[oO][0-7_]+$", "-+0")  # YAML 1.2 octal
_quote(r"^[0-9A-Fa-f:.]*::[0-9A-Fa-f:./]*$", None)  # IPv6 written with ::


def dump(config: Mapping[str, Any]) -> str:
    """The YAML text of a config dict (``yaml.safe_load`` reads it back equal)."""
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)


# ==================================================================================================
# Validation of Nebula config parts

_RULE_KEYS = frozenset({"port", "code", "proto", "host", "group", "groups", "cidr", "local_cidr", "ca_name", "ca_sha"})
_RULE_SELECTORS = ("host", "group", "groups", "cidr", "local_cidr", "ca_name", "ca_sha")
_PROTOS = ("any", "tcp", "udp", "icmp")


def _port_value(value: Any, where: str, what: str) -> int | str:
    if isinstance(value, bool):
        raise NebulaConfigError(f"{where}: {what} must be any, fragment, a port number or a range a-b")
    if isinstance(value, float):
        if not value.is_integer():
            raise NebulaConfigError(f"{where}: {what} must be a whole number, got {value}")
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= 65535:
            raise NebulaConfigError(f"{where}: {what} {value} is out of range 0-65535")
        return value
    if not isinstance(value, str):
        raise NebulaConfigError(f"{where}: {what} must be any, fragment, a port number or a range a-b")
    text = value.strip()
    if text in ("any", "fragment"):
        return text
    m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
    if m:
        start, end = int(m.group(1)), int(m.group(2))
        if start > 65535 or end > 65535:
            raise NebulaConfigError(f"{where}: {what} range {text} is out of range 0-65535")
        if start > end:
            raise NebulaConfigError(f"{where}: {what} range {text} starts after it ends")
        return value
    if re.fullmatch(r"\d+", text):
        if int(text) > 65535:
            raise NebulaConfigError(f"{where}: {what} {text} is out of range 0-65535")
        return value
    raise NebulaConfigError(f"{where}: {what} must be any, fragment, a port number or a range a-b, got {value!r}")


def _non_empty_str(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise NebulaConfigError(f"{where}: {what} must be a non-empty string")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise NebulaConfigError(f"{where}: {what} must not contain control characters, got {value!r}")
    return value


def _cidr(value: Any, where: str, what: str) -> str:
    text = _non_empty_str(value, where, what)
    if "/" not in text:
        raise NebulaConfigError(f"{where}: {what} must be in CIDR notation, got {text!r}")
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NebulaConfigError(f"{where}: {what} did not parse as a CIDR: {text!r}") from None
    return text


def validate_firewall_rules(rules: Any, table: str = "firewall") -> list[dict]:
    """Check a list of Nebula firewall rules and return a normalised copy.

    Each rule is a mapping with ``proto`` (any|tcp|udp|icmp), ``port`` (any | fragment | 0-65535 | "a-b")
    or, alternatively, ``code`` (same syntax, for icmp), and at least one of host, group, groups, cidr,
    local_cidr, ca_name, ca_sha. ``group`` and ``groups`` are mutually exclusive. Unknown keys are refused.
    Whole-number floats (JSON) become ints; everything else is kept as given.
    """
    if isinstance(rules, str | bytes) or not isinstance(rules, Sequence):
        raise NebulaConfigError(f"{table} should be an array of rules")
    out: list[dict] = []
    for i, rule in enumerate(rules):
        where = f"{table} rule #{i}"
        if not isinstance(rule, Mapping):
            raise NebulaConfigError(f"{where}: a rule must be a mapping, got {type(rule).__name__}")
        unknown = sorted(str(k) for k in rule if k not in _RULE_KEYS)
        if unknown:
            raise NebulaConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_RULE_KEYS))}"
            )
        clean: dict[str, Any] = {}
        proto = rule.get("proto")
        if proto not in _PROTOS:
            raise NebulaConfigError(f"{where}: proto must be one of {', '.join(_PROTOS)}, got {proto!r}")
        clean["proto"] = proto
        has_port, has_code = "port" in rule, "code" in rule
        if has_port and has_code:
            raise NebulaConfigError(f"{where}: only one of port or code should be provided")
        if not has_port and not has_code:
            raise NebulaConfigError(f"{where}: port is required (any, fragment, a number or a range a-b)")
        key = "port" if has_port else "code"
        clean[key] = _port_value(rule[key], where, key)
        if not any(k in rule for k in _RULE_SELECTORS):
            raise NebulaConfigError(
                f"{where}: at least one of host, group, groups, cidr, local_cidr, ca_name, or ca_sha must be provided"
            )
        if "group" in rule and "groups" in rule:
            raise NebulaConfigError(f"{where}: only one of group or groups should be defined, both provided")
        for k in ("host", "ca_name", "ca_sha"):
            if k in rule:
                clean[k] = _non_empty_str(rule[k], where, k)
        if "group" in rule:
            g = rule["group"]
            if isinstance(g, list | tuple):
                if len(g) != 1:
                    raise NebulaConfigError(f"{where}: group should contain a single value")
                g = g[0]
            clean["group"] = _non_empty_str(g, where, "group")
        if "groups" in rule:
            gs = rule["groups"]
            if isinstance(gs, str):
                clean["groups"] = _non_empty_str(gs, where, "groups")
            elif isinstance(gs, list | tuple) and gs:
                clean["groups"] = [_non_empty_str(g, where, "each entry of groups") for g in gs]
            else:
                raise NebulaConfigError(f"{where}: groups must be a non-empty list of strings")
        for k in ("cidr", "local_cidr"):
            if k in rule:
                clean[k] = _cidr(rule[k], where, k)
        out.append(clean)
    return out


def parse_host_port(value: str) -> tuple[str, int]:
    """``"1.2.3.4:4242"`` / ``"[2001:db8::1]:4242"`` / ``"lh.example.com:4242"`` -> (host, port)."""
    if not isinstance(value, str) or ":" not in value:
        raise NebulaConfigError(f"expected host:port, got {value!r}")
    host, _, port_text = value.strip().rpartition(":")
    if host.startswith("["):
        if not host.endswith("]"):
            raise NebulaConfigError(f"expected [ipv6]:port, got {value!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise NebulaConfigError(f"invalid IPv6 address in {value!r}") from None
    elif ":" in host:
        raise NebulaConfigError(f"IPv6 addresses must be written [addr]:port, got {value!r}")
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-\[\]:_]+", host):
        raise NebulaConfigError(f"invalid host in {value!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise NebulaConfigError(f"invalid port in {value!r} (1-65535)")
    return host, int(port_text)


def _ip(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise NebulaConfigError(f"{what}: {value!r} is not an IP address") from None


def validate_unsafe_routes(routes: Any) -> list[dict]:
    """``tun.unsafe_routes``: ``{route: CIDR, via: IP}`` plus optional ``mtu``, ``metric``, ``install``."""
    if isinstance(routes, str | bytes) or not isinstance(routes, Sequence):
        raise NebulaConfigError("unsafe_routes must be a list of {route, via} mappings")
    out = []
    for i, r in enumerate(routes):
        where = f"tun.unsafe_routes #{i}"
        if not isinstance(r, Mapping):
            raise NebulaConfigError(f"{where}: must be a mapping")
        unknown = sorted(str(k) for k in r if k not in ("route", "via", "mtu", "metric", "install"))
        if unknown:
            raise NebulaConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        if "route" not in r or "via" not in r:
            raise NebulaConfigError(f"{where}: route and via are required")
        clean: dict[str, Any] = {"route": _cidr(r["route"], where, "route"), "via": _ip(r["via"], where)}
        for k in ("mtu", "metric"):
            if k in r:
                v = r[k]
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise NebulaConfigError(f"{where}: {k} must be a non-negative integer")
                clean[k] = v
        if "install" in r:
            if not isinstance(r["install"], bool):
                raise NebulaConfigError(f"{where}: install must be true or false")
            clean["install"] = r["install"]
        out.append(clean)
    return out


# ==================================================================================================
# Host config builder

DEFAULT_OUTBOUND: list[dict] = [{"port": "any", "proto": "any", "host": "any"}]
DEFAULT_INBOUND: list[dict] = [{"port": "any", "proto": "icmp", "host": "any"}]
_LOG_LEVELS = ("panic", "fatal", "error", "warning", "info", "debug")
_TUN_DEV = re.compile(r"[A-Za-z0-9_-]{1,15}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _text_block(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise NebulaConfigError(f"{what} is required")
    return value if value.endswith("\n") else value + "\n"


def render_host_config(
    *,
    ca_pem: str,
    cert_pem: str,
    key_pem: str | None = None,
    key_path: str | None = None,
    blocklist: Iterable[str] = (),
    is_lighthouse: bool = False,
    lighthouses: Sequence[str] = (),
    static_host_map: Mapping[str, str | Sequence[str]] | None = None,
    lighthouse_interval: int = 60,
    is_relay: bool = False,
    relays: Iterable[str] = (),
    listen_host: str = "0.0.0.0",  # noqa: S104 - nebula listens on every interface
    listen_port: int | None = None,
    public_host_port: str | None = None,
    tun_dev: str = "nebula1",
    mtu: int = 1300,
    unsafe_routes: Sequence[Mapping[str, Any]] = (),
    firewall_inbound: Sequence[Mapping[str, Any]] | None = None,
    firewall_outbound: Sequence[Mapping[str, Any]] | None = None,
    log_level: str = "info",
    log_format: str = "text",
) -> dict[str, Any]:
    """The Nebula host configuration as a dict (pass it to :func:`dump`).

    * ``pki``: ``ca`` (the CA bundle: one or more certificates, e.g. current + next during rotation),
      ``cert``, and ``key``: the inline ``key_pem``, or ``key_path`` when the device keeps its own private
      key (exactly one of the two); ``blocklist`` (sorted, lowercase; only when non-empty).
    * ``lighthouse``: ``{am_lighthouse: true}`` on a lighthouse, otherwise ``{am_lighthouse: false,
      interval, hosts: lighthouses}`` (order kept).
    * ``static_host_map``: ``{overlay ip: [public host:port, ...]}`` for the lighthouses; omitted on a
      lighthouse.
    * ``listen``: ``{host: listen_host, port}``; ``port`` is ``listen_port`` if given, else the port of
      ``public_host_port`` on a lighthouse or relay, else 0. A lighthouse must end up with a port.
    * ``punchy``: ``{punch: true, respond: true}``.
    * ``relay``: ``{am_relay: true}`` on a relay, ``{relays: [relay IPs sorted by address]}`` when the
      network has relays, omitted otherwise.
    * ``tun``: dev, mtu, tx_queue 500, no drops, plus ``unsafe_routes`` when given.
    * ``firewall``: ``outbound`` / ``inbound`` rules; ``None`` means the defaults (outbound any, inbound
      icmp). An explicit empty list is kept (nebula then drops all traffic in that direction).
    * ``logging``: ``{level, format}``.
    """
    if (key_pem is None) == (key_path is None):
        raise NebulaConfigError("exactly one of key_pem (inline key) or key_path (device-held key) is required")
    pki: dict[str, Any] = {"ca": _text_block(ca_pem, "ca_pem"), "cert": _text_block(cert_pem, "cert_pem")}
    if key_pem is not None:
        pki["key"] = _text_block(key_pem, "key_pem")
    else:
        if not isinstance(key_path, str) or not key_path.strip() or "\n" in key_path:
            raise NebulaConfigError("key_path must be a file path")
        pki["key"] = key_path
    if isinstance(blocklist, str):
        raise NebulaConfigError("blocklist must be a list of fingerprints")
    blocked = sorted({fp.strip().lower() for fp in blocklist})
    for fp in blocked:
        if not _FINGERPRINT.fullmatch(fp):
            raise NebulaConfigError(f"blocklist entry is not a sha256 fingerprint: {fp!r}")
    if blocked:
        pki["blocklist"] = blocked

    config: dict[str, Any] = {"pki": pki}

    if is_lighthouse:
        config["lighthouse"] = {"am_lighthouse": True}
    else:
        if isinstance(lighthouses, str):
            raise NebulaConfigError("lighthouses must be a list of overlay IPs")
        if isinstance(lighthouse_interval, bool) or not isinstance(lighthouse_interval, int) or lighthouse_interval < 1:
            raise NebulaConfigError("lighthouse_interval must be a positive integer")
        config["lighthouse"] = {
            "am_lighthouse": False,
            "interval": lighthouse_interval,
            "hosts": [_ip(ip, "lighthouse") for ip in lighthouses],
        }
        shm: dict[str, list[str]] = {}
        for ip, addrs in (static_host_map or {}).items():
            entries = [addrs] if isinstance(addrs, str) else list(addrs)
            for a in entries:
                parse_host_port(a)
            if entries:
                shm[_ip(ip, "static_host_map")] = entries
        config["static_host_map"] = shm

    if listen_port is None:
        listen_port = 0
        if (is_lighthouse or is_relay) and public_host_port:
            listen_port = parse_host_port(public_host_port)[1]
    if isinstance(listen_port, bool) or not isinstance(listen_port, int) or not 0 <= listen_port <= 65535:
        raise NebulaConfigError("listen_port must be 0-65535")
    if is_lighthouse and listen_port == 0:
        raise NebulaConfigError(
            "a lighthouse needs a fixed listen port: give public_host_port (host:port) or listen_port"
        )
    config["listen"] = {"host": _ip(listen_host, "listen_host"), "port": listen_port}
    config["punchy"] = {"punch": True, "respond": True}

    if isinstance(relays, str):
        raise NebulaConfigError("relays must be a list of overlay IPs")
    relay_ips = sorted({ipaddress.ip_address(_ip(r, "relay")) for r in relays}, key=lambda a: (a.version, a))
    if is_relay:
        config["relay"] = {"am_relay": True}
    elif relay_ips:
        config["relay"] = {"relays": [str(a) for a in relay_ips]}

    if not isinstance(tun_dev, str) or not _TUN_DEV.fullmatch(tun_dev):
        raise NebulaConfigError("tun_dev must be 1-15 characters of A-Z a-z 0-9 _ -")
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not 576 <= mtu <= 9216:
        raise NebulaConfigError("mtu must be between 576 and 9216")
    tun: dict[str, Any] = {
        "disabled": False,
        "dev": tun_dev,
        "drop_local_broadcast": False,
        "drop_multicast": False,
        "tx_queue": 500,
        "mtu": mtu,
    }
    routes = validate_unsafe_routes(unsafe_routes)
    if routes:
        tun["unsafe_routes"] = routes
    config["tun"] = tun

    config["firewall"] = {
        "outbound": validate_firewall_rules(
            DEFAULT_OUTBOUND if firewall_outbound is None else firewall_outbound, "firewall.outbound"
        ),
        "inbound": validate_firewall_rules(
            DEFAULT_INBOUND if firewall_inbound is None else firewall_inbound, "firewall.inbound"
        ),
    }
    if log_level not in _LOG_LEVELS:
        raise NebulaConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
    if log_format not in ("text", "json"):
        raise NebulaConfigError("log_format must be text or json")
    config["logging"] = {"level": log_level, "format": log_format}
    return config


def render_host_config_yaml(**kwargs: Any) -> str:
    """``dump(render_host_config(**kwargs))``."""
    return dump(render_host_config(**kwargs))
