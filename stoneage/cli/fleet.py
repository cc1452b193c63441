"""Fleet files: one organization's inventory as YAML, applied with `stoneage apply -f` and written by
`stoneage export`.

```yaml
organization: acme                 # optional: --org wins, then this, then the context's default
message_schemas:  [{namespace, name, version, description, schema}]
thing_types:      [{code, name, description, subject_prefix, metadata_schema,
                    operations: [{name, capability, subject_suffix, description,
                                  message_schema: "namespace/name@version"}]}]
location_types:   [{code, name, description, metadata_schema}]
locations:        [{code, name, description, location_type: <code>, parent: <code>, address, latitude,
                    longitude, metadata}]
roles:            [{name, description, publish_allow, publish_deny, subscribe_allow, subscribe_deny, ...}]
networks:         [{name, description, cidr}]
things:           [{code, name, description, thing_type: <code>, location: <code>, metadata, active}]
```

Objects are matched by their identity (code; name for roles and networks; namespace, name and version for
message schemas; name and capability for operations). A field left out of an entry is left as it is. `apply`
shows a plan (create, change, unchanged) and then makes it through the resource endpoints; with `--prune` it
also deletes the objects of each section the file lists (an absent section is left alone) that the file does
not name. Applying the same file twice changes nothing the second time, and `export` writes this format, so an
export applied to an empty organization reproduces it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import click
import yaml

from stoneage.cli.client import Api
from stoneage.cli.errors import UsageProblem
from stoneage.cli.output import dump
from stoneage.cli.state import current_state, output_options


@dataclass(frozen=True)
class Kind:
    section: str
    label: str
    #: Under `/api/v1/orgs/<org>/`.
    path: str
    identity: tuple[str, ...]
    fields: tuple[str, ...]
    #: Field → the section whose keys it holds (an id in the API, a key in the file).
    refs: dict[str, str] = field(default_factory=dict)
    key_format: str = "{code}"

    def key(self, obj: dict) -> str:
        return self.key_format.format(**obj)

    @property
    def allowed(self) -> tuple[str, ...]:
        return self.identity + self.fields


MESSAGE_SCHEMAS = Kind(
    "message_schemas",
    "message schema",
    "message-schemas/",
    ("namespace", "name", "version"),
    ("description", "schema"),
    key_format="{namespace}/{name}@{version}",
)
THING_TYPES = Kind(
    "thing_types", "thing type", "thing-types/", ("code",), ("name", "description", "subject_prefix", "metadata_schema")
)
OPERATIONS = Kind(
    "operations",
    "operation",
    "thing-types/{thing_type}/operations/",
    ("name", "capability"),
    ("subject_suffix", "description", "message_schema"),
    refs={"message_schema": "message_schemas"},
    key_format="{name}/{capability}",
)
LOCATION_TYPES = Kind(
    "location_types", "location type", "location-types/", ("code",), ("name", "description", "metadata_schema")
)
LOCATIONS = Kind(
    "locations",
    "location",
    "locations/",
    ("code",),
    ("name", "description", "location_type", "parent", "address", "latitude", "longitude", "metadata"),
    refs={"location_type": "location_types", "parent": "locations"},
)
ROLES = Kind(
    "roles",
    "NATS role",
    "nats/roles/",
    ("name",),
    (
        "description",
        "publish_allow",
        "publish_deny",
        "subscribe_allow",
        "subscribe_deny",
        "allow_responses",
        "response_max",
        "response_ttl",
        "max_subscriptions",
        "max_data",
        "max_payload",
    ),
    key_format="{name}",
)
NETWORKS = Kind(
    "networks", "Nebula network", "nebula/networks/", ("name",), ("description", "cidr"), key_format="{name}"
)
THINGS = Kind(
    "things",
    "thing",
    "things/",
    ("code",),
    ("name", "description", "thing_type", "location", "metadata", "active"),
    refs={"thing_type": "thing_types", "location": "locations"},
)

#: In the order they are created (what refers to something comes after it); deleted in the reverse order.
KINDS = (MESSAGE_SCHEMAS, THING_TYPES, LOCATION_TYPES, LOCATIONS, ROLES, NETWORKS, THINGS)
SECTIONS = {kind.section: kind for kind in KINDS}
DECIMALS = {"latitude", "longitude"}


def same(name: str, wanted, current) -> bool:
    if wanted == current:
        return True
    if name in DECIMALS and wanted is not None and current is not None:
        try:
            return Decimal(str(wanted)) == Decimal(str(current))
        except InvalidOperation:
            return False
    return False


# --- The organization as it is -----------------------------------------------------------------------------------


class Remote:
    """The organization's objects of every kind, by key, and the key of every id."""

    def __init__(self, api: Api, org: str):
        self.api = api
        self.org = org
        self.objects: dict[str, dict[str, dict]] = {}
        self.keys: dict[str, dict[int, str]] = {}
        for kind in KINDS:
            rows = list(api.rows(self.path(kind)))
            self.objects[kind.section] = {kind.key(row): row for row in rows}
            self.keys[kind.section] = {row["id"]: kind.key(row) for row in rows}
        self.keys[OPERATIONS.section] = {}

    def path(self, kind: Kind, **values) -> str:
        return f"orgs/{self.org}/" + kind.path.format(**values)

    def spec(self, kind: Kind, obj: dict) -> dict:
        """`obj` as a file entry: identity and managed fields, references as keys."""
        entry = {}
        for name in kind.allowed:
            value = obj.get(name)
            if name in kind.refs and value is not None:
                value = self.keys[kind.refs[name]].get(value, value)
            entry[name] = value
        return entry


def export_document(remote: Remote) -> dict:
    document: dict = {"organization": remote.org}
    for kind in KINDS:
        objects = list(remote.objects[kind.section].values())
        if kind is LOCATIONS:
            objects.sort(key=lambda obj: (obj.get("depth") or 0, obj["code"]))
        entries = []
        for obj in objects:
            entry = _compact(remote.spec(kind, obj))
            if kind is THING_TYPES:
                entry["operations"] = [_compact(remote.spec(OPERATIONS, op)) for op in obj.get("operations") or []]
            entries.append(entry)
        document[kind.section] = entries
    return document


def _compact(entry: dict) -> dict:
    return {name: value for name, value in entry.items() if value is not None and value != ""}


# --- The file ----------------------------------------------------------------------------------------------------


def read_document(source) -> dict:
    try:
        document = yaml.safe_load(source.read())
    except yaml.YAMLError as exc:
        raise UsageProblem(f"{source.name} is not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise UsageProblem(f"{source.name} must be a mapping of sections ({', '.join(SECTIONS)}).")
    unknown = set(document) - set(SECTIONS) - {"organization"}
    if unknown:
        raise UsageProblem(f"Unknown sections {sorted(unknown)}; the sections are: {', '.join(SECTIONS)}.")
    for kind in KINDS:
        entries = document.get(kind.section)
        if entries is None:
            continue
        _check_entries(kind, entries, extra=("operations",) if kind is THING_TYPES else ())
        if kind is THING_TYPES:
            for entry in entries:
                if entry.get("operations") is not None:
                    _check_entries(OPERATIONS, entry["operations"], where=f"thing type {entry['code']!r}: ")
    return document


def _check_entries(kind: Kind, entries, extra: tuple[str, ...] = (), where: str = "") -> None:
    if not isinstance(entries, list):
        raise UsageProblem(f"{where}{kind.section} must be a list.")
    seen = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise UsageProblem(f"{where}every entry of {kind.section} must be a mapping.")
        missing = [name for name in kind.identity if entry.get(name) in (None, "")]
        if missing:
            raise UsageProblem(f"{where}an entry of {kind.section} has no {', '.join(missing)}.")
        unknown = set(entry) - set(kind.allowed) - set(extra)
        if unknown:
            raise UsageProblem(
                f"{where}{kind.label} {kind.key(entry)!r}: unknown fields {sorted(unknown)} "
                f"(known: {', '.join(kind.allowed + extra)})."
            )
        key = kind.key(entry)
        if key in seen:
            raise UsageProblem(f"{where}{kind.label} {key!r} is listed twice.")
        seen.add(key)


# --- The plan ----------------------------------------------------------------------------------------------------


@dataclass
class Step:
    verb: str  # create | change | unchanged | delete
    kind: Kind
    key: str
    entry: dict = field(default_factory=dict)
    current: dict | None = None
    changes: dict[str, tuple] = field(default_factory=dict)
    #: Operations: the key of their thing type.
    owner: str | None = None

    @property
    def name(self) -> str:
        return f"{self.owner}: {self.key}" if self.owner else self.key

    def as_dict(self) -> dict:
        out = {"action": self.verb, "kind": self.kind.label, "key": self.name}
        if self.changes:
            out["changes"] = {name: {"from": old, "to": new} for name, (old, new) in self.changes.items()}
        return out


def _compare(remote: Remote, kind: Kind, entry: dict, current: dict | None, owner: str | None = None) -> Step:
    key = kind.key(entry)
    if current is None:
        return Step("create", kind, key, entry, owner=owner)
    have = remote.spec(kind, current)
    changes = {
        name: (have.get(name), value)
        for name, value in entry.items()
        if name in kind.fields and not same(name, value, have.get(name))
    }
    return Step("change" if changes else "unchanged", kind, key, entry, current, changes, owner)


def _parents_first(entries: list[dict]) -> list[dict]:
    by_code = {entry["code"]: entry for entry in entries}
    ordered, state = [], {}

    def visit(entry, trail):
        code = entry["code"]
        if state.get(code) == "done":
            return
        if state.get(code) == "visiting":
            raise UsageProblem(f"Locations form a loop: {' → '.join([*trail, code])}.")
        state[code] = "visiting"
        parent = entry.get("parent")
        if parent in by_code:
            visit(by_code[parent], [*trail, code])
        state[code] = "done"
        ordered.append(entry)

    for entry in entries:
        visit(entry, [])
    return ordered


def plan(remote: Remote, document: dict, prune: bool) -> list[Step]:
    steps: list[Step] = []
    for kind in KINDS:
        entries = document.get(kind.section)
        if entries is None:
            continue
        if kind is LOCATIONS:
            entries = _parents_first(entries)
        existing = remote.objects[kind.section]
        for entry in entries:
            _check_refs(remote, document, kind, entry)
            current = existing.get(kind.key(entry))
            step = _compare(remote, kind, {k: v for k, v in entry.items() if k != "operations"}, current)
            steps.append(step)
            if kind is THING_TYPES and entry.get("operations") is not None:
                steps.extend(_plan_operations(remote, document, step, entry["operations"], current, prune))
        if prune:
            named = {kind.key(entry) for entry in entries}
            doomed = [obj for key, obj in existing.items() if key not in named]
            if kind is LOCATIONS:
                doomed.sort(key=lambda obj: -(obj.get("depth") or 0))
            steps.extend(Step("delete", kind, kind.key(obj), current=obj) for obj in doomed)
    return steps


def _plan_operations(remote, document, type_step: Step, entries, current_type, prune) -> list[Step]:
    existing = {OPERATIONS.key(op): op for op in (current_type or {}).get("operations") or []}
    steps = []
    for entry in entries:
        _check_refs(remote, document, OPERATIONS, entry)
        steps.append(_compare(remote, OPERATIONS, entry, existing.get(OPERATIONS.key(entry)), type_step.key))
    if prune:
        named = {OPERATIONS.key(entry) for entry in entries}
        steps.extend(
            Step("delete", OPERATIONS, key, current=op, owner=type_step.key)
            for key, op in existing.items()
            if key not in named
        )
    return steps


def _check_refs(remote: Remote, document: dict, kind: Kind, entry: dict) -> None:
    for name, section in kind.refs.items():
        value = entry.get(name)
        if value is None:
            continue
        target = SECTIONS[section]
        in_file = any(target.key(other) == str(value) for other in document.get(section) or [])
        if not in_file and str(value) not in remote.objects[section]:
            raise UsageProblem(
                f"{kind.label} {kind.key(entry)!r}: {name} {value!r} is neither in the file nor in the organization."
            )


# --- Applying it -------------------------------------------------------------------------------------------------


class Applier:
    def __init__(self, remote: Remote):
        self.remote = remote
        self.api = remote.api
        self.ids = {
            section: {key: obj["id"] for key, obj in objects.items()} for section, objects in remote.objects.items()
        }

    def payload(self, kind: Kind, entry: dict, names) -> dict:
        body = {}
        for name in names:
            value = entry[name]
            if name in kind.refs and value is not None:
                value = self.ids[kind.refs[name]][str(value)]
            body[name] = value
        return body

    def run(self, step: Step) -> None:
        kind = step.kind
        values = {"thing_type": self.ids[THING_TYPES.section][step.owner]} if step.owner else {}
        collection = self.remote.path(kind, **values)
        if step.verb == "create":
            created = self.api.json("POST", collection, json=self.payload(kind, step.entry, step.entry))
            self.ids.setdefault(kind.section, {})[step.key] = created["id"]
        elif step.verb == "change":
            body = self.payload(kind, step.entry, step.changes)
            self.api.json("PATCH", f"{collection}{step.current['id']}/", json=body)
        elif step.verb == "delete":
            self.api.request("DELETE", f"{collection}{step.current['id']}/")
        click.echo(f"{step.verb.rstrip('e')}ed {kind.label} {step.name}", err=True)


def execute(remote: Remote, steps: list[Step]) -> None:
    applier = Applier(remote)
    deletes = [step for step in steps if step.verb == "delete"]
    for step in steps:
        if step.verb in ("create", "change"):
            applier.run(step)
    # Deletions last, what refers to something before it (things, then locations deepest first, then types).
    doomed_types = {step.key for step in deletes if step.kind is THING_TYPES}
    order = [OPERATIONS, *reversed(KINDS)]
    for kind in order:
        for step in deletes:
            if step.kind is kind and not (kind is OPERATIONS and step.owner in doomed_types):
                applier.run(step)


def show_plan(org: str, steps: list[Step], fmt: str) -> None:
    counts = {verb: sum(1 for s in steps if s.verb == verb) for verb in ("create", "change", "delete", "unchanged")}
    if fmt != "table":
        click.echo(dump({"organization": org, "steps": [s.as_dict() for s in steps], "summary": counts}, fmt))
        return
    signs = {"create": "+", "change": "~", "delete": "-"}
    click.echo(f"Organization {org}:")
    for step in steps:
        if step.verb == "unchanged":
            continue
        click.echo(f"  {signs[step.verb]} {step.verb:<7} {step.kind.label} {step.name}")
        for name, (old, new) in step.changes.items():
            click.echo(f"        {name}: {old!r} → {new!r}")
    click.echo(
        f"Plan: {counts['create']} to create, {counts['change']} to change, {counts['delete']} to delete, "
        f"{counts['unchanged']} unchanged."
    )


@click.command("apply")
@click.option("-f", "--file", "source", type=click.File("r"), required=True, help="The fleet file ('-': stdin).")
@click.option("--prune", is_flag=True, help="Also delete what the file's sections do not name.")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@output_options
def apply_command(source, prune: bool, dry_run: bool) -> None:
    """Make an organization's inventory match a fleet file (see `stoneage export` for the format)."""
    state = current_state()
    document = read_document(source)
    org = state.org_flag or document.get("organization") or state.org()
    remote = Remote(state.api(), str(org))
    steps = plan(remote, document, prune)
    show_plan(remote.org, steps, state.fmt())
    if dry_run:
        return
    if not any(step.verb != "unchanged" for step in steps):
        click.echo("Nothing to change.", err=True)
        return
    execute(remote, steps)
    click.echo("Applied.", err=True)


@click.command("export")
@click.option("--out", type=click.File("w"), default="-", help="Where to write the YAML (default: stdout).")
@output_options
def export_command(out) -> None:
    """Write an organization's inventory as a fleet file for `stoneage apply`."""
    state = current_state()
    document = export_document(Remote(state.api(), state.org()))
    out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    if out is not sys.stdout:
        click.echo(f"Wrote {out.name}.", err=True)
