"""Nebula host configuration: a deterministic YAML emitter in the ``gopkg.in/yaml.v3`` dialect, and the
builder for the config dict (pure Python, no Django).

:func:`dump` writes what yaml.v3 ``Marshal`` writes for the same ``map[string]interface{}``:

* 4-space indentation; sequences indented under their key; a mapping inside a sequence starts on the dash
  line and its later keys align 2 columns after the dash; empty collections as ``[]`` / ``{}``.
* Keys sorted with yaml.v3's ordering (digit runs compare numerically: ``10.0.0.9`` < ``10.0.0.10``).
* Strings with a newline: literal blocks ``|`` (one trailing newline), ``|-`` (none), ``|+`` (more).
  Deliberate difference: a multi-line string that starts with a space or a line break, or a string with
  a line break other than LF, is double-quoted; yaml.v3 writes a literal block for it that does not
  read back to the same string.
* Strings that would read back as another type (``"22"``, ``"true"``, ``"yes"``, ``"on"``, ``"null"``,
  ``"~"``, ``""``, ``"1.5"``, ``"0x1F"``, ``"2024-01-02"``, ``"1:20"`` ...) are double-quoted; strings that
  are not valid plain scalars (``'a: b'``, ``'-'``, ``'#x'``, ``'*'``, ``'[2001:db8::1]:4242'``) are
  single-quoted; control characters force double quotes with yaml.v3's escapes.
* ``bool`` -> ``true``/``false``, ``int`` as is, ``float`` like Go ``strconv.FormatFloat(f, 'g', -1, 64)``
  (so JSON-decoded ``443.0`` prints ``443``), ``None`` -> ``null``.

:func:`render_host_config` builds the config dict (sections ``pki``, ``static_host_map``, ``lighthouse``,
``listen``, ``punchy``, ``relay``, ``tun``, ``firewall``, ``logging``) and :func:`validate_firewall_rules`
checks Nebula firewall rules. Errors are :class:`NebulaConfigError` (a ``ValueError``).
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

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
# Scalar resolution (yaml.v3 resolve.go + encode.go stringv)

_RESOLVE_MAP = frozenset(
    {
        "true", "True", "TRUE", "false", "False", "FALSE",
        "", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
        "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
    }
)  # fmt: skip
_OLD_BOOLS = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"}
)
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_TIME = r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?"
_TIMESTAMPS = (
    re.compile(_DATE),
    re.compile(_DATE + " " + _TIME),
    re.compile(_DATE + "[Tt]" + _TIME + r"(?:Z|[+-]\d{2}:\d{2})"),
)


def _go_int_ok(plain: str) -> bool:
    """strconv.ParseInt(plain, 0, 64) or strconv.ParseUint(plain, 0, 64) succeeds."""
    m = _GO_INT.fullmatch(plain)
    if not m:
        return False
    sign, body = m.groups()
    if body[:2] in ("0x", "0X"):
        v = int(body[2:], 16)
    elif body[:2] in ("0b", "0B"):
        v = int(body[2:], 2)
    elif body[:2] in ("0o", "0O"):
        v = int(body[2:], 8)
    elif len(body) > 1 and body[0] == "0":
        v = int(body[1:], 8)
    else:
        v = int(body)
    if sign == "-":
        return v <= 1 << 63
    if v < 1 << 63:
        return True
    return sign == "" and v < 1 << 64


def _go_float_ok(text: str) -> bool:
    try:
        return not math.isinf(float(text))
    except ValueError:
        return False


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _is_timestamp(s: str) -> bool:
    for pattern in _TIMESTAMPS:
        m = pattern.fullmatch(s)
        if not m:
            continue
        g = [int(x) for x in m.groups() if x is not None and x.isdigit()]
        year, month, day = g[0], g[1], g[2]
        if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
            return False
        if len(g) > 3:
            hour, minute, second = g[3], g[4], g[5]
            if hour > 23 or minute > 59 or second > 59:
                return False
        return True
    return False


def _resolves_to_non_string(s: str) -> bool:
    """yaml.v3 ``resolve("", s)`` gives another tag than !!str (or s is a YAML 1.1 bool/base-60 float)."""
    if s in _RESOLVE_MAP or s in _OLD_BOOLS:
        return True
    c = s[0]
    if c == ".":
        return bool(_DOT_FLOAT.fullmatch(s)) and _go_float_ok(s)
    if c in "+-0123456789":
        if _BASE60_FLOAT.fullmatch(s) or _is_timestamp(s):
            return True
        plain = s.replace("_", "")
        if _go_int_ok(plain):
            return True
        return bool(_YAML_STYLE_FLOAT.fullmatch(plain)) and _go_float_ok(plain)
    return False


# ==================================================================================================
# Scalar analysis (yaml.v3 emitterc.go yaml_emitter_analyze_scalar)

_BREAKS = "\r\n\x85\u2028\u2029"


def _printable(ch: str) -> bool:
    o = ord(ch)
    return o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)


class _Analysis:
    __slots__ = ("multiline", "block_plain_allowed", "single_quoted_allowed", "block_allowed")

    def __init__(self, value: str) -> None:
        if not value:
            self.multiline = False
            self.block_plain_allowed = True
            self.single_quoted_allowed = True
            self.block_allowed = False
            return
        block_indicators = value.startswith(("---", "..."))
        line_breaks = special = tabs = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = False
        preceded_by_ws = True
        previous_space = previous_break = False
        n = len(value)
        for i, ch in enumerate(value):
            followed_by_ws = i + 1 >= n or value[i + 1] in " \t"
            if i == 0:
                if ch in "#,[]{}&*!|>'\"%@`" or (ch in "?:-" and followed_by_ws):
                    block_indicators = True
            elif (ch == ":" and followed_by_ws) or (ch == "#" and preceded_by_ws):
                block_indicators = True
            if ch == "\t":
                tabs = True
            elif not _printable(ch):
                special = True
            if ch == " ":
                leading_space = leading_space or i == 0
                trailing_space = i == n - 1
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif ch in _BREAKS:
                line_breaks = True
                leading_break = leading_break or i == 0
                trailing_break = i == n - 1
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = ch in " \t\x00" or ch in _BREAKS
        self.multiline = line_breaks
        self.block_plain_allowed = not (
            leading_space or leading_break or trailing_space or trailing_break or break_space
            or space_break or tabs or special or line_breaks or block_indicators
        )  # fmt: skip
        self.single_quoted_allowed = not (break_space or space_break or tabs or special)
        self.block_allowed = not (trailing_space or space_break or special)


# ==================================================================================================
# Scalar writers

_ESCAPES = {
    0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r",
    0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P",
}  # fmt: skip


def _double_quoted(value: str) -> str:
    # yaml.v3's is_bom() looks at the start of the value, not at the current character: a value that
    # starts with U+FEFF gets every character escaped.
    escape_all = value.startswith("\ufeff")
    out = ['"']
    for ch in value:
        o = ord(ch)
        if escape_all or not _printable(ch) or ch in _BREAKS or ch in '"\\':
            esc = _ESCAPES.get(o)
            if esc is None:
                esc = f"x{o:02X}" if o <= 0xFF else (f"u{o:04X}" if o <= 0xFFFF else f"U{o:08X}")
            out.append("\\" + esc)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literal_header(value: str) -> str:
    """``|`` plus the chomping indicator (values starting with a space or break never get here)."""
    header = "|"
    if not value or value[-1] not in _BREAKS:
        header += "-"
    elif len(value) == 1 or value[-2] in _BREAKS:
        header += "+"
    return header


def _string_style(value: str, simple_key: bool) -> str:
    """'plain' | 'single' | 'double' | 'literal' as yaml.v3 would pick."""
    analysis = _Analysis(value)
    if "\n" in value:
        # yaml.v3 would write a literal block here too, but one starting with a space or a line break
        # does not read back to the same string; those (and control characters) are double-quoted.
        if simple_key or not analysis.block_allowed or value[0] in " " + _BREAKS:
            return "double"
        return "literal"
    if any(ch in _BREAKS for ch in value):
        return "double"
    if value and not _resolves_to_non_string(value):
        if analysis.block_plain_allowed:
            return "plain"
        return "single" if analysis.single_quoted_allowed else "double"
    return "double"


def _go_float(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'g', -1, 64)`` plus yaml.v3's ``.inf``/``.nan`` spellings."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    ds = "".join(str(d) for d in digits)
    x = len(ds) + int(exp) - 1  # decimal exponent of the first digit
    neg = "-" if sign else ""
    # shortest 'g': %e when the exponent is < -4 or >= 6 (strconv formatDigits, eprec = 6)
    if x < -4 or x >= 6:
        return neg + _go_exp(ds, x)
    if x < 0:
        return neg + "0." + "0" * (-x - 1) + ds
    if len(ds) <= x + 1:
        return neg + ds + "0" * (x + 1 - len(ds))
    return neg + ds[: x + 1] + "." + ds[x + 1 :]


def _go_exp(ds: str, x: int) -> str:
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"


# ==================================================================================================
# Key ordering (yaml.v3 sorter.go keyList.Less for string keys)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def _wrap_int64(v: int) -> int:
    """Go int64 arithmetic wraps around; the key order of very long digit runs depends on it."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _key_less(a: str, b: str) -> bool:
    digits = False
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] == b[i]:
            digits = _is_digit(a[i])
            continue
        al, bl = _is_letter(a[i]), _is_letter(b[i])
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and _is_digit(a[ai]):
            an = _wrap_int64(an * 10 + (ord(a[ai]) - 48))
            ai += 1
        bi = i
        while bi < len(b) and _is_digit(b[bi]):
            bn = _wrap_int64(bn * 10 + (ord(b[bi]) - 48))
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    if _key_less(a, b):
        return -1
    if _key_less(b, a):
        return 1
    return 0


_KEY_ORDER = cmp_to_key(_key_cmp)


# ==================================================================================================
# Emitter (yaml.v3 block style, best_indent 4)


def _child_indent(parent: int, in_sequence: bool) -> int:
    """yaml_emitter_increase_indent(flow=False, indentless=False)."""
    if parent < 0:
        return 0
    if in_sequence:
        return parent + 2
    return 4 * ((parent + 4) // 4)


def _scalar_indent(parent: int, in_sequence: bool) -> int:
    """yaml_emitter_increase_indent(flow=True, ...) used for block scalar content."""
    if parent < 0:
        return 4
    return _child_indent(parent, in_sequence)


class _Writer:
    """Output with the cursor state of the yaml.v3 emitter (column, whitespace, indention)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.parts.append("\n")
        self.column = 0
        self.indention = True

    def write_indent(self, indent: int) -> None:
        indent = max(indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True

    def write_indicator(
        self, text: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool
    ) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def write_scalar(self, text: str) -> None:
        """A plain or quoted single-line scalar."""
        if not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = False
        self.indention = False

    def write_literal(self, value: str, indent: int) -> None:
        self.write_indicator("|", True, False, False)
        self.write_indicator(_literal_header(value)[1:], False, False, False)
        self.whitespace = True
        at_break = True
        for ch in value:
            if ch == "\n":
                self.put_break()
                at_break = True
            elif ch in _BREAKS:
                self.parts.append(ch)
                self.column = 0
                self.indention = True
                at_break = True
            else:
                if at_break:
                    self.write_indent(indent)
                self.put(ch)
                self.indention = False
                at_break = False


def _normalize(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"mapping keys must be strings, got {type(k).__name__}: {k!r}")
            out[k] = _normalize(v)
        return out
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(
        value,
        ipaddress.IPv4Address
        | ipaddress.IPv6Address
        | ipaddress.IPv4Network
        | ipaddress.IPv6Network
        | ipaddress.IPv4Interface
        | ipaddress.IPv6Interface,
    ):
        return str(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _scalar(value: Any, simple_key: bool) -> tuple[str, str]:
    """(style, text) for a non-collection value; text is already quoted for quoted styles."""
    if value is None:
        return "plain", "null"
    if value is True:
        return "plain", "true"
    if value is False:
        return "plain", "false"
    if isinstance(value, int):
        return "plain", str(value)
    if isinstance(value, float):
        return "plain", _go_float(value)
    style = _string_style(value, simple_key)
    if style == "single":
        return style, _single_quoted(value)
    if style == "double":
        return style, _double_quoted(value)
    return style, value


def _emit(w: _Writer, value: Any, parent: int, in_sequence: bool) -> None:
    if isinstance(value, dict):
        if not value:
            w.write_indicator("{", True, True, False)
            w.write_indicator("}", False, False, False)
            return
        indent = _child_indent(parent, in_sequence)
        for key in sorted(value, key=_KEY_ORDER):
            w.write_indent(indent)
            if len(key.encode()) > 128 or any(ch in _BREAKS for ch in key):
                raise NebulaConfigError(f"mapping key is too long or multi-line: {key[:40]!r}")
            w.write_scalar(_scalar(key, simple_key=True)[1])
            w.write_indicator(":", False, False, False)
            _emit(w, value[key], indent, False)
        return
    if isinstance(value, list):
        if not value:
            w.write_indicator("[", True, True, False)
            w.write_indicator("]", False, False, False)
            return
        indent = _child_indent(parent, in_sequence)
        for item in value:
            w.write_indent(indent)
            w.write_indicator("-", True, False, True)
            _emit(w, item, indent, True)
        return
    style, text = _scalar(value, simple_key=False)
    if style == "literal":
        w.write_literal(text, _scalar_indent(parent, in_sequence))
    else:
        w.write_scalar(text)


def dump(obj: Any) -> str:
    """Serialize like yaml.v3 ``Marshal`` (dict keys must be strings)."""
    w = _Writer()
    _emit(w, _normalize(obj), -1, False)
    w.write_indent(-1)
    return "".join(w.parts)


# ==================================================================================================
# Validation of Nebula config parts

_RULE_KEYS = frozenset(
    {"port", "code", "proto", "host", "group", "groups", "cidr", "local_cidr", "ca_name", "ca_sha"}
)
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
    raise NebulaConfigError(
        f"{where}: {what} must be any, fragment, a port number or a range a-b, got {value!r}"
    )


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
                f"{where}: at least one of host, group, groups, cidr, local_cidr, ca_name, or ca_sha "
                "must be provided"
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
        raise NebulaConfigError(
            "exactly one of key_pem (inline key) or key_path (device-held key) is required"
        )
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
        if (
            isinstance(lighthouse_interval, bool)
            or not isinstance(lighthouse_interval, int)
            or lighthouse_interval < 1
        ):
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
