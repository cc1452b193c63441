"""Bulk import and export of an organization's inventory, as JSON or CSV.

Formats (export writes exactly what import reads):

- **JSON**: one document holding every kind, each a list of rows::

      {"format": "stoneage-inventory", "version": 1,
       "message_schemas": [...], "thing_types": [...], "location_types": [...], "locations": [...],
       "things": [...]}

  Every key but the lists of rows is optional, and so is each list. Errors name a row by its index in its list.
- **CSV**: one file per kind, UTF-8, a header row naming the columns (`COLUMNS`; only `REQUIRED` ones must be
  present). JSON values (`metadata`, schemas, a type's `operations`) are JSON text in their cell; booleans are
  `true`/`false`; an empty cell is the field's default. Errors name a row by its line in the file.

Rows refer to each other by code, resolved in the target organization only: a location's `type` and `parent`,
a thing's `type` and `location`, an operation's `message_schema` (`namespace.name@version`). A reference may
name a row of the same import. An import only creates: a code already in the organization is an error.

An import is all-or-nothing. Every row is checked first with the models' own rules (`clean_fields()` and
`clean()`; the per-row uniqueness query of `clean()` is replaced by one query per kind), and every bad row is
reported with its position and reason; only an import without errors is written, in one transaction, with
`bulk_create`. A thing with `nats: auto` gets a NATS user issued by its type's signing key, minted in a tight
loop (`mint_scoped_users`). The import is recorded as one audit event naming what it created.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import Action
from audit.services import write_event
from credentials.models import NatsUser
from credentials.services import nats as nats_svc
from inventory.models import Location, LocationType, MessageSchema, Operation, Thing, ThingType
from inventory.services import contracts
from stoneage.db import insert_rows, reserve_primary_keys

FORMAT_NAME = "stoneage-inventory"
FORMAT_VERSION = 1
FORMATS = ("json", "csv")
#: In dependency order: a kind refers only to kinds before it.
KINDS = ("message_schemas", "thing_types", "location_types", "locations", "things")
COLUMNS: dict[str, tuple[str, ...]] = {
    "message_schemas": ("namespace", "name", "version", "description", "schema"),
    "thing_types": ("code", "name", "description", "subject_prefix", "metadata_schema", "operations"),
    "location_types": ("code", "name", "description", "metadata_schema"),
    "locations": ("code", "name", "description", "type", "parent", "address", "latitude", "longitude", "metadata"),
    "things": ("code", "name", "description", "type", "location", "metadata", "active", "nats"),
}
REQUIRED: dict[str, frozenset[str]] = {
    "message_schemas": frozenset({"namespace", "name", "version", "schema"}),
    "thing_types": frozenset({"code"}),
    "location_types": frozenset({"code"}),
    "locations": frozenset({"code"}),
    "things": frozenset({"code", "type"}),
}
#: Columns holding JSON values (JSON text in a CSV cell).
JSON_COLUMNS = frozenset({"schema", "metadata_schema", "operations", "metadata"})
BOOLEAN_COLUMNS = frozenset({"active"})
OPERATION_KEYS = ("name", "capability", "subject_suffix", "description", "message_schema")
#: Kinds only owners and admins import (reference §1.3: contracts and location types are ADMIN-only).
MANAGER_KINDS = frozenset({"message_schemas", "thing_types", "location_types"})
NATS_MODES = ("none", "auto")
#: The most rows one import takes.
MAX_ROWS = 100_000
BATCH = 2_000


class FileError(ValueError):
    """The file as a whole cannot be read (not JSON, a missing column, an unknown kind): one sentence."""


@dataclass(frozen=True)
class Row:
    kind: str
    position: int  # CSV: line in the file (header = 1); JSON: index in the kind's list
    data: dict[str, Any]
    csv: bool = False

    @property
    def where(self) -> str:
        return f"{self.kind} line {self.position}" if self.csv else f"{self.kind}[{self.position}]"


@dataclass(frozen=True)
class RowError:
    kind: str
    position: int
    field: str
    message: str
    csv: bool = False

    def as_dict(self) -> dict[str, Any]:
        where = {"line": self.position} if self.csv else {"index": self.position}
        return {"kind": self.kind, **where, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.position}" if self.csv else f"[{self.position}]"
        return f"{self.kind} {where}: {self.field + ': ' if self.field else ''}{self.message}"


@dataclass
class Source:
    """What an import reads: the rows of each kind."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def extend(self, other: Source) -> None:
        for kind, rows in other.rows.items():
            self.rows[kind].extend(rows)

    def manager_reasons(self) -> list[str]:
        """Why only an owner or admin may run this import (empty when a member may)."""
        reasons = [f"it holds {kind.replace('_', ' ')}" for kind in KINDS if kind in MANAGER_KINDS and self.rows[kind]]
        things = self.rows["things"]
        if any(str(r.data.get("nats") or "").strip().lower() == "auto" for r in things):
            reasons.append("it gives things NATS users")
        if any(_boolean(r.data.get("active"), default=True) is False for r in things):
            reasons.append("it sets things inactive")
        return reasons


# --- Reading ---------------------------------------------------------------------------------------------------


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise FileError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    return kind


def _check_size(source: Source) -> Source:
    if len(source) > MAX_ROWS:
        raise FileError(f"The import holds {len(source):,} rows; split it into imports of at most {MAX_ROWS:,}.")
    return source


def read_json(text: str | bytes) -> Source:
    """A JSON document of every kind (see the module's docstring)."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileError(f"The file is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise FileError('The document must be a JSON object: {"thing_types": [...], "things": [...], ...}.')
    known = {"format", "version", *KINDS}
    unknown = sorted(set(document) - known)
    if unknown:
        raise FileError(f"Unknown key {unknown[0]!r} in the document; use {', '.join(KINDS)}.")
    if document.get("format", FORMAT_NAME) != FORMAT_NAME or document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise FileError(f"This is not a {FORMAT_NAME} document of version {FORMAT_VERSION}.")
    source = Source()
    for kind in KINDS:
        items = document.get(kind) or []
        if not isinstance(items, list):
            raise FileError(f"{kind!r} must be a list of rows.")
        source.rows[kind] = [
            Row(kind, i, item if isinstance(item, dict) else {"": item}) for i, item in enumerate(items)
        ]
    return _check_size(source)


def read_csv(text: str | bytes, kind: str) -> Source:
    """One CSV file of one kind, with its header row."""
    _check_kind(kind)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileError("The file is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise FileError("The file is empty: the first line must name the columns.")
        header = [name.strip() for name in header]
        unknown = [name for name in header if name not in COLUMNS[kind]]
        if unknown:
            raise FileError(f"Unknown column {unknown[0]!r} for {kind}; use {', '.join(COLUMNS[kind])}.")
        missing = sorted(REQUIRED[kind] - set(header))
        if missing:
            raise FileError(f"The column {missing[0]!r} is missing: {kind} need {', '.join(sorted(REQUIRED[kind]))}.")
        if len(set(header)) != len(header):
            raise FileError("A column is named twice in the header.")
        rows, line = [], reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                if len(record) != len(header):
                    data = {"": f"The row has {len(record)} cells; the header names {len(header)} columns."}
                else:
                    data = dict(zip(header, record, strict=True))
                rows.append(Row(kind, line, data, csv=True))
            line = reader.line_num + 1
            if len(rows) > MAX_ROWS:
                break
    except csv.Error as exc:
        raise FileError(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    source = Source()
    source.rows[kind] = rows
    return _check_size(source)


def read(content: str | bytes, fmt: str, kind: str | None = None) -> Source:
    if fmt == "json":
        return read_json(content)
    if fmt == "csv":
        if not kind:
            raise FileError("Name the kind of rows a CSV file holds (thing_types, locations, things...).")
        return read_csv(content, kind)
    raise FileError(f"Unknown format {fmt!r}; use json or csv.")


def guess_format(filename: str) -> str | None:
    name = filename.lower()
    return "json" if name.endswith(".json") else "csv" if name.endswith(".csv") else None


def guess_kind(filename: str) -> str | None:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower().replace("-", "_")
    return stem if stem in KINDS else None


# --- Values ----------------------------------------------------------------------------------------------------


class _BadValue(ValueError):
    pass


def _boolean(value: Any, *, default: bool) -> bool | None:
    """True/False for a boolean cell, `default` for an empty one, None for anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)


def _value(row: Row, name: str, default: Any = "") -> Any:
    """The row's value for `name`, JSON columns decoded from CSV text; raises _BadValue."""
    value = row.data.get(name)
    if value is None or (row.csv and value == ""):
        return default
    if row.csv and name in JSON_COLUMNS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _BadValue(f"Not valid JSON: {exc}.") from None
    if not row.csv and name not in JSON_COLUMNS and isinstance(value, dict | list):
        raise _BadValue("Enter a single value, not a JSON object or list.")
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _schema_key(namespace: str, name: str, version: str) -> str:
    return f"{namespace}.{name}@{version}"


# --- Import ----------------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    counts: dict[str, int]
    nats_users: int
    errors: list[RowError]
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "written": self.written,
            "counts": self.counts,
            "nats_users": self.nats_users,
            "errors": [e.as_dict() for e in self.errors],
        }

    def summary(self) -> str:
        parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts.items() if n]
        if self.nats_users:
            parts.append(f"{self.nats_users} NATS users")
        return ", ".join(parts) or "nothing"


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [m for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
    return {"": exc.messages}


def _no_clash(*args, **kwargs) -> dict[str, str]:
    return {}


class _Coded:
    """The rows of one kind that carry a code: the first row of each code in the file, and the codes the
    organization already has (duplicates in the file are reported)."""

    def __init__(self, job: _Import, kind: str, model):
        self.kind, self.model = kind, model
        self.rows = job.source.rows[kind]
        self.firsts = job.unique(self.rows, lambda r: _text(r.data.get("code")), model, "code")
        self.taken = job.taken(model, self.firsts)

    def stands_for(self, row: Row, code: str) -> bool:
        """Whether `row` is what references by `code` mean: its first row in the file, and the code is new."""
        return self.firsts.get(code) is row and code not in self.taken


class _Import:
    def __init__(self, organization, source: Source):
        self.organization = organization
        self.source = source
        self.errors: list[RowError] = []
        self.new: dict[str, list] = {kind: [] for kind in KINDS}
        self.operations: list[Operation] = []
        self.nats_things: list[Thing] = []
        self.nats_rows: list[Row] = []
        self.schemas: dict[str, MessageSchema] = {}
        self.thing_types: dict[str, ThingType] = {}
        self.location_types: dict[str, LocationType] = {}
        self.locations: dict[str, Location] = {}
        self.invalid: set[int] = set()  # id() of new rows that failed: their dependants skip what needs them

    # Errors

    def error(self, row: Row, name: str, message: str) -> None:
        self.errors.append(RowError(row.kind, row.position, name, message, row.csv))

    def check(self, row: Row, obj, exclude: Iterable[str], prefix: str = "") -> bool:
        """The model's own rules for one row: field validation (relations excluded: they were resolved by code
        in this organization) and `clean()`, whose per-row uniqueness query was answered for all rows at once."""
        found: dict[str, list[str]] = {}
        try:
            obj.clean_fields(exclude=list(exclude))
        except ValidationError as exc:
            found.update(_messages(exc))
        if hasattr(type(obj), "unique_code_error"):
            obj.unique_code_error = _no_clash
        try:
            obj.clean()
        except ValidationError as exc:
            for name, messages in _messages(exc).items():
                found.setdefault(name, []).extend(messages)
        finally:
            obj.__dict__.pop("unique_code_error", None)
        for name, messages in found.items():
            name = "" if name == "__all__" else name
            for message in dict.fromkeys(messages):
                self.error(row, ".".join(p for p in (prefix, name) if p), message)
        if found:
            self.invalid.add(id(obj))
        return not found

    def values(self, row: Row, names: Iterable[str], defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The row's values, or None (errors recorded) when a value cannot be read or a key is unknown."""
        if "" in row.data:
            detail = row.data[""]
            self.error(row, "", detail if isinstance(detail, str) and row.csv else "Each row must be a JSON object.")
            return None
        ok = True
        for name in row.data:
            if name not in COLUMNS[row.kind]:
                self.error(row, name, f"Unknown field; {row.kind} have {', '.join(COLUMNS[row.kind])}.")
                ok = False
        values = {}
        for name in names:
            try:
                values[name] = _value(row, name, (defaults or {}).get(name, ""))
            except _BadValue as exc:
                self.error(row, name, str(exc))
                ok = False
        return values if ok else None

    def unique(self, rows: list[Row], key, model, label: str) -> dict[str, Row]:
        """Rows whose code (`key(row)`) appears once in the file and not yet in the organization."""
        first: dict[str, Row] = {}
        for row in rows:
            code = key(row)
            if not code:
                continue
            if code in first:
                where = f"line {first[code].position}" if row.csv else f"index {first[code].position}"
                self.error(row, label, f"{code!r} appears twice in the file (first at {where}).")
            else:
                first[code] = row
        return first

    def taken(self, model, codes: Iterable[str]) -> set[str]:
        return set(
            model.objects.filter(organization=self.organization, code__in=list(codes)).values_list("code", flat=True)
        )

    def clash(self, row: Row, model, code: str) -> None:
        self.error(row, "code", f"A {model._meta.verbose_name} with code {code!r} already exists in this organization.")

    def read_coded(
        self, coded: _Coded, defaults: dict[str, Any], *, reserve: bool = True
    ) -> Iterator[tuple[Row, int | None, dict[str, Any], str]]:
        """Each row of `coded` whose values read, with a primary key reserved for it (None without `reserve`), its
        values and its code; a code the organization already has is reported."""
        rows = coded.rows
        ids = iter(reserve_primary_keys(coded.model, len(rows)) if reserve else [None] * len(rows))
        for row in rows:
            pk = next(ids)
            values = self.values(row, COLUMNS[coded.kind], defaults)
            if values is None:
                continue
            code = _text(values["code"])
            if code in coded.taken:
                self.clash(row, coded.model, code)
            yield row, pk, values, code

    def new_type(self, coded: _Coded, pk: int | None, code: str, values: dict[str, Any], **fields):
        """A thing type or a location type from its row's values."""
        return coded.model(
            pk=pk,
            organization=self.organization,
            code=code,
            name=_text(values["name"]),
            description=_text(values["description"]),
            metadata_schema=values["metadata_schema"],
            **fields,
        )

    def keep(self, coded: _Coded, row: Row, obj, found: dict) -> None:
        """A new row of the import; the one its code stands for is what the file's references by code find."""
        if coded.stands_for(row, obj.code):
            found[obj.code] = obj
        self.new[coded.kind].append(obj)

    # Kinds

    def validate_message_schemas(self) -> None:
        rows = self.source.rows["message_schemas"]
        keys = {}
        for row in rows:
            keys[id(row)] = _schema_key(
                _text(row.data.get("namespace")), _text(row.data.get("name")), _text(row.data.get("version"))
            )
        firsts = self.unique(rows, lambda r: keys[id(r)], MessageSchema, "version")
        ids = iter(reserve_primary_keys(MessageSchema, len(rows)))
        for row in rows:
            values = self.values(row, COLUMNS["message_schemas"])
            pk = next(ids)
            if values is None:
                continue
            schema = MessageSchema(
                pk=pk,
                organization=self.organization,
                namespace=_text(values["namespace"]),
                name=_text(values["name"]),
                version=_text(values["version"]),
                description=_text(values["description"]),
                schema=values["schema"],
            )
            self.check(row, schema, ["organization"])
            if firsts.get(keys[id(row)]) is row:
                self.schemas[keys[id(row)]] = schema
            self.new["message_schemas"].append(schema)

    def existing_schema(self, key: str) -> MessageSchema | None:
        if key not in self.schemas:
            namespace, _, rest = key.partition(".")
            name, _, version = rest.partition("@")
            self.schemas[key] = MessageSchema.objects.filter(
                organization=self.organization, namespace=namespace, name=name, version=version
            ).first()
        return self.schemas[key]

    def validate_thing_types(self) -> None:
        coded = _Coded(self, "thing_types", ThingType)
        default_prefix = ThingType._meta.get_field("subject_prefix").default
        for row, pk, values, code in self.read_coded(coded, {"metadata_schema": {}, "operations": []}):
            thing_type = self.new_type(
                coded, pk, code, values, subject_prefix=_text(values["subject_prefix"]) or default_prefix
            )
            valid = self.check(row, thing_type, ["organization", "signing_key"])
            valid = self.type_operations(row, thing_type, values["operations"]) and valid
            if not valid:
                self.invalid.add(id(thing_type))
            self.keep(coded, row, thing_type, self.thing_types)

    def type_operations(self, row: Row, thing_type: ThingType, specs: Any) -> bool:
        if not isinstance(specs, list):
            self.error(row, "operations", "Enter a list of operations: [{name, capability, subject_suffix}, ...].")
            return False
        ok, seen = True, set()
        for i, spec in enumerate(specs):
            where = f"operations[{i}]"
            if not isinstance(spec, dict):
                self.error(row, where, "Enter an operation as an object: {name, capability, subject_suffix}.")
                ok = False
                continue
            unknown = sorted(set(spec) - set(OPERATION_KEYS))
            if unknown:
                self.error(row, f"{where}.{unknown[0]}", f"Unknown field; operations have {', '.join(OPERATION_KEYS)}.")
                ok = False
            schema = None
            schema_key = _text(spec.get("message_schema"))
            if schema_key:
                schema = self.existing_schema(schema_key)
                if schema is None:
                    self.error(
                        row,
                        f"{where}.message_schema",
                        f"No message schema {schema_key!r} in this organization or the file "
                        "(write it namespace.name@version).",
                    )
                    ok = False
            operation = Operation(
                thing_type=thing_type,
                name=_text(spec.get("name")),
                capability=_text(spec.get("capability")),
                subject_suffix=_text(spec.get("subject_suffix")),
                description=_text(spec.get("description")),
                message_schema=schema,
            )
            if (operation.name, operation.capability) in seen:
                self.error(row, f"{where}.name", "This type already has an operation with this name and capability.")
                ok = False
            seen.add((operation.name, operation.capability))
            ok = self.check(row, operation, ["thing_type", "message_schema"], prefix=where) and ok
            self.operations.append(operation)
        return ok

    def validate_location_types(self) -> None:
        coded = _Coded(self, "location_types", LocationType)
        for row, pk, values, code in self.read_coded(coded, {"metadata_schema": {}}):
            location_type = self.new_type(coded, pk, code, values)
            self.check(row, location_type, ["organization"])
            self.keep(coded, row, location_type, self.location_types)

    def resolve(self, row: Row, name: str, code: str, found: dict, model) -> Any:
        """The row of this organization (or of the file) with `code`, or None with an error recorded."""
        if not code:
            return None
        if code not in found:
            found[code] = model.objects.filter(organization=self.organization, code=code).first()
        obj = found[code]
        if obj is None:
            label = model._meta.verbose_name
            self.error(row, name, f"No {label} with code {code!r} in this organization or the file.")
        return obj

    def prefetch(self, model, codes: set[str], found: dict) -> None:
        missing = [c for c in codes if c and c not in found]
        for obj in model.objects.filter(organization=self.organization, code__in=missing):
            found[obj.code] = obj
        for code in missing:
            found.setdefault(code, None)

    def validate_locations(self) -> None:
        coded = _Coded(self, "locations", Location)
        self.prefetch(LocationType, {_text(r.data.get("type")) for r in coded.rows}, self.location_types)
        parents = {_text(r.data.get("parent")) for r in coded.rows} - (set(coded.firsts) - coded.taken)
        self.prefetch(Location, parents, self.locations)
        built: list[tuple[Row, Location, str]] = []
        for row, pk, values, code in self.read_coded(coded, {"metadata": {}, "latitude": None, "longitude": None}):
            location = Location(
                pk=pk,
                organization=self.organization,
                code=code,
                name=_text(values["name"]),
                description=_text(values["description"]),
                location_type=self.resolve(row, "type", _text(values["type"]), self.location_types, LocationType),
                address=_text(values["address"]),
                latitude=values["latitude"],
                longitude=values["longitude"],
                metadata=values["metadata"],
            )
            self.keep(coded, row, location, self.locations)
            built.append((row, location, _text(values["parent"])))
        for row, location, parent in self.tree_order(built):
            location.parent = self.locations.get(parent) if parent else None
            exclude = ["organization", "location_type", "parent", "path"]
            if location.location_type is not None and id(location.location_type) in self.invalid:
                location.location_type = None  # its schema may not be usable; the type's own errors are reported
            self.check(row, location, exclude)
            location.path = f"{location.parent.path if location.parent else '/'}{location.pk}/"

    def tree_order(self, built: list[tuple[Row, Location, str]]) -> list[tuple[Row, Location, str]]:
        """Parents before children. Rows in a cycle or under an unknown parent are reported and left out, and so
        are the rows under them."""
        primary = {entry[1].code: entry for entry in built if self.locations.get(entry[1].code) is entry[1]}
        state: dict[str, bool] = {}  # code -> placed in the tree
        ordered: list[tuple[Row, Location, str]] = []
        for entry in built:
            code = entry[1].code
            if primary.get(code) is not entry or code in state:
                continue
            chain, index, current = [], {}, entry  # from this row up through its parents in the file
            while True:
                here, parent = current[1].code, current[2]
                index[here] = len(chain)
                chain.append(current)
                if not parent:
                    placed = True
                elif parent in state:
                    placed = state[parent]
                elif parent in index:
                    cycle = chain[index[parent] :]
                    names = " → ".join([*(e[1].code for e in cycle), parent])
                    for e in cycle:
                        self.error(e[0], "parent", f"The locations {names} form a cycle (each inside the next).")
                        state[e[1].code] = False
                        self.invalid.add(id(e[1]))
                    del chain[index[parent] :]
                    placed = False
                elif parent in primary:
                    current = primary[parent]
                    continue
                elif self.locations.get(parent) is not None:
                    placed = True  # a location of the organization
                else:
                    self.error(
                        current[0], "parent", f"No location with code {parent!r} in this organization or the file."
                    )
                    placed = False
                break
            for e in reversed(chain):
                state[e[1].code] = placed
                if placed:
                    ordered.append(e)
                else:
                    self.invalid.add(id(e[1]))
        for entry in built:  # rows whose code is taken (reported): checked under their parent when it is placed
            row, location, parent = entry
            if primary.get(location.code) is entry:
                continue
            if parent in primary:
                if state.get(parent):
                    ordered.append(entry)
            elif not parent or self.locations.get(parent) is not None:
                ordered.append(entry)
            else:
                self.unknown_parent(row, parent)
        return ordered

    def unknown_parent(self, row: Row, parent: str) -> None:
        self.error(row, "parent", f"No location with code {parent!r} in this organization or the file.")

    def validate_things(self) -> None:
        coded = _Coded(self, "things", Thing)
        self.prefetch(ThingType, {_text(r.data.get("type")) for r in coded.rows}, self.thing_types)
        self.prefetch(Location, {_text(r.data.get("location")) for r in coded.rows}, self.locations)
        account = None
        nats_names: set[str] = set()
        defaults = {"metadata": {}, "active": None, "nats": "none"}
        for row, _pk, values, code in self.read_coded(coded, defaults, reserve=False):  # keys taken at the write
            thing_type = self.resolve(row, "type", _text(values["type"]), self.thing_types, ThingType)
            if not _text(values["type"]):
                self.error(row, "type", "Name the thing's type by its code.")
            location = self.resolve(row, "location", _text(values["location"]), self.locations, Location)
            active = _boolean(values["active"], default=True)
            if active is None:
                self.error(row, "active", "Enter true or false.")
            mode = _text(values["nats"]).lower() or "none"
            if mode not in NATS_MODES:
                self.error(row, "nats", f"Enter {' or '.join(NATS_MODES)}.")
            thing = Thing(
                organization=self.organization,
                code=code,
                name=_text(values["name"]),
                description=_text(values["description"]),
                thing_type=thing_type,
                location=location,
                metadata=values["metadata"],
                active=active is not False,
            )
            exclude = ["organization", "thing_type", "location", "nats_user", "nebula_host"]
            if thing_type is None or id(thing_type) in self.invalid:
                try:
                    thing.clean_fields(exclude=exclude)
                except ValidationError as exc:
                    for name, messages in _messages(exc).items():
                        for message in messages:
                            self.error(row, name, message)
            else:
                self.check(row, thing, exclude)
            if mode == "auto":
                if active is False:
                    self.error(row, "nats", "An inactive thing gets no NATS user; import it active.")
                if account is None:
                    account = contracts.account_of(self.organization)
                nats_names.add(code)
                self.nats_things.append(thing)
                self.nats_rows.append(row)
            self.new["things"].append(thing)
        if nats_names:
            clashes = set(NatsUser.objects.filter(account=account, name__in=nats_names).values_list("name", flat=True))
            for row, thing in zip(self.nats_rows, self.nats_things, strict=True):
                if thing.code in clashes:
                    self.error(row, "nats", f"The account already has a NATS user named {thing.code!r}.")

    def validate(self) -> None:
        self.validate_message_schemas()
        self.validate_thing_types()
        self.validate_location_types()
        self.validate_locations()
        self.validate_things()
        self.errors.sort(key=lambda e: (KINDS.index(e.kind), e.position))

    # Writing

    def write(self) -> dict[str, list[int]]:
        MessageSchema.objects.bulk_create(self.new["message_schemas"], batch_size=BATCH)
        ThingType.objects.bulk_create(self.new["thing_types"], batch_size=BATCH)
        for operation in self.operations:
            operation.thing_type = operation.thing_type  # its type has its key now
        Operation.objects.bulk_create(self.operations, batch_size=BATCH)
        contracts.sync_type_contracts(self.organization, self.new["thing_types"])
        LocationType.objects.bulk_create(self.new["location_types"], batch_size=BATCH)
        Location.objects.bulk_create(self.new["locations"], batch_size=BATCH)
        users = self.mint_users()
        things = self.new["things"]
        for thing, pk in zip(things, reserve_primary_keys(Thing, len(things)), strict=True):
            thing.pk = pk
        insert_rows(Thing, things)
        ids = {kind: [obj.pk for obj in objs] for kind, objs in self.new.items()}
        ids["operations"] = [op.pk for op in self.operations]
        ids["nats_users"] = [u.pk for u in users]
        return ids

    def mint_users(self) -> list[NatsUser]:
        if not self.nats_things:
            return []
        account = contracts.account_of(self.organization)
        by_type: dict[int, list[Thing]] = defaultdict(list)
        for thing in self.nats_things:
            by_type[thing.thing_type_id].append(thing)
        users = []
        for thing_type in ThingType.objects.filter(pk__in=list(by_type)).select_related("organization"):
            things = by_type[thing_type.pk]
            specs = [(t.code, contracts.thing_user_tags(t), NatsUser.OwnerKind.THING) for t in things]
            minted = nats_svc.mint_scoped_users(account, contracts.type_key(thing_type), specs)
            # Inserted before the next type's users take their keys (on SQLite, keys past the highest inserted).
            nats_svc.insert_minted_users(minted)
            for thing, user in zip(things, minted, strict=True):
                thing.nats_user = user
            users += minted
        return users


def import_inventory(organization, source: Source, *, dry_run: bool = False, filename: str = "") -> ImportResult:
    """Check every row of `source` and, when none is bad and it is not a dry run, create them all in
    `organization` in one transaction, recorded as one audit event."""
    job = _Import(organization, source)
    with transaction.atomic():
        job.validate()
        counts = {kind: len(job.new[kind]) for kind in KINDS}
        result = ImportResult(counts=counts, nats_users=len(job.nats_things), errors=job.errors, dry_run=dry_run)
        if not result.written:
            transaction.set_rollback(True)
            return result
        ids = job.write()
        write_event(
            Action.BULK_CREATE,
            organization_id=organization.pk,
            organization_slug=organization.slug,
            object_type="inventory.import",
            object_repr=f"Inventory import: {result.summary()}"[:200],
            extra={
                "file": filename[:200],
                "counts": {**counts, "operations": len(ids["operations"]), "nats_users": len(ids["nats_users"])},
                "ids": {kind: [str(pk) for pk in pks] for kind, pks in ids.items() if pks},
            },
        )
    return result


# --- Export ----------------------------------------------------------------------------------------------------


def _sorted(value: Any) -> Any:
    """A JSON value with its objects' keys in order, so that an export does not depend on the database's."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def export_rows(organization, kind: str) -> list[dict[str, Any]]:
    """The rows of one kind, as the JSON document holds them (what `read_json` reads back)."""
    _check_kind(kind)
    org = {"organization": organization}
    if kind == "message_schemas":
        return [
            {
                "namespace": s.namespace,
                "name": s.name,
                "version": s.version,
                "description": s.description,
                "schema": _sorted(s.schema),
            }
            for s in MessageSchema.objects.filter(**org).order_by("namespace", "name", "version")
        ]
    if kind == "thing_types":
        operations = defaultdict(list)
        for op in (
            Operation.objects.filter(thing_type__organization=organization)
            .select_related("message_schema")
            .order_by("name", "capability")
        ):
            schema = op.message_schema
            operations[op.thing_type_id].append(
                {
                    "name": op.name,
                    "capability": op.capability,
                    "subject_suffix": op.subject_suffix,
                    "description": op.description,
                    "message_schema": _schema_key(schema.namespace, schema.name, schema.version) if schema else "",
                }
            )
        return [
            {
                "code": t.code,
                "name": t.name,
                "description": t.description,
                "subject_prefix": t.subject_prefix,
                "metadata_schema": _sorted(t.metadata_schema),
                "operations": operations[t.pk],
            }
            for t in ThingType.objects.filter(**org).order_by("code")
        ]
    if kind == "location_types":
        return [
            {
                "code": t.code,
                "name": t.name,
                "description": t.description,
                "metadata_schema": _sorted(t.metadata_schema),
            }
            for t in LocationType.objects.filter(**org).order_by("code")
        ]
    if kind == "locations":
        rows = Location.objects.filter(**org).select_related("location_type", "parent").order_by("code")
        return [
            {
                "code": loc.code,
                "name": loc.name,
                "description": loc.description,
                "type": loc.location_type.code if loc.location_type else "",
                "parent": loc.parent.code if loc.parent else "",
                "address": loc.address,
                "latitude": _decimal(loc.latitude),
                "longitude": _decimal(loc.longitude),
                "metadata": _sorted(loc.metadata),
            }
            for loc in rows
        ]
    rows = (
        Thing.objects.filter(**org)
        .order_by("code")
        .values_list(
            "code", "name", "description", "thing_type__code", "location__code", "metadata", "active", "nats_user_id"
        )
    )
    return [
        {
            "code": code,
            "name": name,
            "description": description,
            "type": type_code,
            "location": location or "",
            "metadata": _sorted(metadata),
            "active": active,
            "nats": "auto" if user else "none",
        }
        for code, name, description, type_code, location, metadata, active, user in rows.iterator(chunk_size=BATCH)
    ]


def export_document(organization) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        **{kind: export_rows(organization, kind) for kind in KINDS},
    }


def export_json(organization) -> str:
    return json.dumps(export_document(organization), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _cell(name: str, value: Any) -> str:
    if name in JSON_COLUMNS:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def export_csv(organization, kind: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[kind])
    for row in export_rows(organization, kind):
        writer.writerow([_cell(name, row[name]) for name in COLUMNS[kind]])
    return out.getvalue()
