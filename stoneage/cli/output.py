"""Output: a table for people (the default on a terminal), JSON (the default when piped) or YAML."""

from __future__ import annotations

import json
import sys

import click
import yaml
from tabulate import tabulate

FORMATS = ("table", "json", "yaml")
#: Longest cell a table shows; JSON and YAML are never shortened.
CELL_WIDTH = 60


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


def pick(row: dict, column: str):
    """`user.username` reads a nested value."""
    value = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def dump(data, fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False)


def show_rows(rows: list[dict], columns: tuple[str, ...], fmt: str) -> None:
    if fmt != "table":
        click.echo(dump(rows, fmt))
        return
    if not rows:
        click.echo("(none)", err=True)
        return
    columns = columns or tuple(rows[0])
    click.echo(tabulate([[cell(pick(row, c)) for c in columns] for row in rows], headers=columns, tablefmt="simple"))


def show_object(obj, fmt: str) -> None:
    if fmt != "table" or not isinstance(obj, dict):
        click.echo(dump(obj, fmt))
        return
    click.echo(tabulate([[key, cell(value)] for key, value in obj.items()], tablefmt="plain"))


def show_one_row(row: dict, columns: tuple[str, ...], fmt: str) -> None:
    """A row printed as it arrives (audit `--follow`): one JSON object per line, or the columns tab-separated."""
    if fmt == "json":
        click.echo(json.dumps(row, ensure_ascii=False))
    elif fmt == "yaml":
        click.echo("---\n" + dump(row, "yaml"))
    else:
        click.echo("\t".join(cell(pick(row, c)) for c in columns))
