"""JSON Schema for metadata and message payloads, through `jsonschema` (Draft 2020-12 unless a schema names
another draft). Remote references are never fetched: a `$ref` outside the schema is an error."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from jsonschema import exceptions as js_exceptions
from referencing import Registry
from referencing.exceptions import Unresolvable

#: A schema larger than this (serialized) is refused: schemas are reference data, not documents.
MAX_SCHEMA_BYTES = 64 * 1024
#: Errors reported for one document, at most.
MAX_ERRORS = 20

_EMPTY_REGISTRY = Registry()


def _validator_class(schema: dict):
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def schema_errors(schema: Any) -> list[str]:
    """Why `schema` is not a usable JSON Schema (empty when it is)."""
    if not isinstance(schema, dict):
        return ['Enter a JSON Schema object, e.g. {"type": "object", "properties": {...}}.']
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        return [f"The schema is larger than {MAX_SCHEMA_BYTES // 1024} KiB."]
    try:
        cls = _validator_class(schema)
        cls.check_schema(schema)
        # Resolve every reference now, so that a dangling `$ref` is caught when the schema is saved.
        list(cls(schema, registry=_EMPTY_REGISTRY).iter_errors(None))
    except js_exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return [f"Not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}"]
    except (Unresolvable, js_exceptions._WrappedReferencingError) as exc:  # noqa: SLF001
        return [f"The schema refers to something it does not contain: {exc}"]
    except (RecursionError, ValueError, TypeError) as exc:
        return [f"Not a valid JSON Schema: {exc}"]
    return []


def document_errors(document: Any, schema: dict | None, root: str = "") -> dict[str, str]:
    """`{path: message}` for each way `document` fails `schema`; the path names the field (`location.floor`),
    `root` prefixes it (e.g. `metadata`). An empty or missing schema accepts anything."""
    if not schema:
        return {}
    try:
        validator = _validator_class(schema)(schema, registry=_EMPTY_REGISTRY)
        found = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    except (Unresolvable, js_exceptions._WrappedReferencingError, RecursionError) as exc:  # noqa: SLF001
        return {root or "document": f"The schema cannot be applied: {exc}"}
    errors: dict[str, str] = {}
    for error in found[:MAX_ERRORS]:
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            # Name the missing property itself, not its parent.
            missing = next((r for r in error.validator_value if r not in error.instance), None)
            if missing is not None:
                path.append(str(missing))
                errors.setdefault(".".join([root, *path]) if root else ".".join(path), "This field is required.")
                continue
        key = ".".join([root, *path]) if root else (".".join(path) or "document")
        errors.setdefault(key, error.message)
    return errors
