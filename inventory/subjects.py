"""Subject templates of thing types: `{org}.{location}.{thing_type}.{thing}.<suffix>`.

Pure functions, no Django. A template is a NATS subject whose tokens may be placeholders, each a whole token:

- `{org}`: the organization's slug;
- `{location}`: the code of the thing's location;
- `{thing_type}`: the thing type's code;
- `{thing}`: the thing's code.

An operation's subject is the type's prefix followed by the operation's suffix. The default prefix follows the
messaging hierarchy (organization, place, kind, instance), so that streams and consumers bind families of
subjects (`acme.hq.>`, `acme.*.sensor.>`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TOKENS = ("org", "location", "thing_type", "thing")
DEFAULT_PREFIX = "{org}.{location}.{thing_type}.{thing}"
#: A thing without a location stands in the `{location}` token as this value (never a valid location code).
NO_LOCATION = "_"
MAX_LENGTH = 255

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Codes that stand in subjects: one NATS token, no wildcard, no dot, nothing that needs quoting.
#: First tokens the platform keeps for itself (`_SA.config.<thing>`: config notifications to devices).
RESERVED_FIRST_TOKENS = ("_SA",)
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_CODE = re.compile(CODE_PATTERN)
_SAMPLE = {"org": "org", "location": "loc", "thing_type": "type", "thing": "thing"}


class SubjectTemplateError(ValueError):
    """A template that is not a valid subject; the message names the offending part."""


def is_code(value: str) -> bool:
    return isinstance(value, str) and bool(_CODE.match(value))


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def check_subject(subject: str, *, wildcards: bool = True) -> None:
    """Raise SubjectTemplateError unless `subject` is a valid NATS subject (with wildcards when allowed)."""
    if not subject:
        raise SubjectTemplateError("The subject is empty.")
    for ch in subject:
        if ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise SubjectTemplateError(f"{subject!r} contains whitespace or a control character.")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise SubjectTemplateError(f"{subject!r} has an empty token (a leading, trailing or double '.').")
        if token in ("*", ">"):
            if not wildcards:
                raise SubjectTemplateError(f"{subject!r}: the wildcard {token!r} is not allowed here.")
            if token == ">" and i != len(tokens) - 1:  # noqa: S105 (a subject token)
                raise SubjectTemplateError(f"{subject!r}: '>' may only be the last token.")
        elif "*" in token or ">" in token:
            raise SubjectTemplateError(f"{subject!r}: the token {token!r} mixes a wildcard with other characters.")


def check_template(template: str, *, wildcards: bool = True) -> None:
    """Every placeholder known and a whole token; the rest a valid NATS subject."""
    if not isinstance(template, str):
        raise SubjectTemplateError("Enter the template as text.")
    if len(template) > MAX_LENGTH:
        raise SubjectTemplateError(f"The template is longer than {MAX_LENGTH} characters.")
    unknown = [p for p in placeholders(template) if p not in TOKENS]
    if unknown:
        known = ", ".join("{" + t + "}" for t in TOKENS)
        raise SubjectTemplateError(f"Unknown placeholder {{{unknown[0]}}}; use {known}.")
    stray = _PLACEHOLDER.sub("", template)
    if "{" in stray or "}" in stray:
        raise SubjectTemplateError(f"{template!r} has an unbalanced '{{' or '}}'.")
    for token in template.split("."):
        if _PLACEHOLDER.search(token) and not _PLACEHOLDER.fullmatch(token):
            raise SubjectTemplateError(f"The placeholder in {token!r} must be a whole token (between dots).")
    check_subject(render(template, _SAMPLE), wildcards=wildcards)
    if template.split(".")[0] in RESERVED_FIRST_TOKENS:
        raise SubjectTemplateError(f"Subjects starting with {template.split('.')[0]} are reserved for the platform.")


def join(prefix: str, suffix: str) -> str:
    """The subject template of an operation: the type's prefix, then the operation's suffix."""
    prefix, suffix = (prefix or "").strip("."), (suffix or "").strip(".")
    return ".".join(part for part in (prefix, suffix) if part)


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace each placeholder by its value (placeholders without a value stay as they are)."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(value, template)


def matches(pattern: str, subject: str) -> bool:
    """Whether the NATS subject `subject` (no wildcards) falls under `pattern` (`*` one token, `>` the rest)."""
    wanted, given = pattern.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(given) > i
        if i >= len(given) or part not in ("*", given[i]):
            return False
    return len(given) == len(wanted)
