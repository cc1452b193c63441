"""Click commands made from the entries of `resources.py`: list, get, create, update, delete and actions."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import click
import yaml

from stoneage.cli.errors import UsageProblem
from stoneage.cli.output import show_object, show_one_row, show_rows
from stoneage.cli.resources import RESOURCES, Action, Resource
from stoneage.cli.state import current_state, output_options

SET_HELP = "A field: key=text, or key:=YAML/JSON value (key:=5, key:=true, key:='[a, b]', key:=null). Repeatable."
FILE_HELP = "The fields as a YAML or JSON mapping ('-' reads standard input); --set values win."


# --- Paths and bodies --------------------------------------------------------------------------------------------


def option_name(placeholder: str) -> str:
    return placeholder.replace("_", "-")


def list_path(resource: Resource, values: dict) -> str:
    state = current_state()
    filled = {name: quote(str(values[name]), safe="") for name in resource.placeholders}
    if resource.org_scoped:
        filled["org"] = quote(state.org(), safe="")
    return resource.path.format(**filled)


def detail_path(resource: Resource, values: dict, ident: str | None) -> str:
    base = list_path(resource, values)
    return base if resource.singleton else f"{base}{quote(str(ident), safe='')}/"


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict:
    """`key=text` (a string) and `key:=value` (YAML, so JSON too)."""
    data = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key or key == ":":
            raise UsageProblem(f"{option} takes key=value or key:=value, not {pair!r}.")
        if key.endswith(":"):
            try:
                data[key[:-1]] = yaml.safe_load(value)
            except yaml.YAMLError:
                raise UsageProblem(f"{option} {key[:-1]}: {value!r} is not a YAML or JSON value.") from None
        else:
            data[key] = value
    return data


def read_mapping(source) -> dict:
    if source is None:
        return {}
    try:
        data = yaml.safe_load(source.read())
    except yaml.YAMLError as exc:
        raise UsageProblem(f"{source.name} is not valid YAML or JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageProblem(f"{source.name} must hold a mapping of fields.")
    return data


def body_options(command):
    command = click.option("-f", "--file", "source", type=click.File("r"), help=FILE_HELP)(command)
    return click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help=SET_HELP)(command)


def request_body(source, pairs) -> dict:
    return {**read_mapping(source), **parse_pairs(pairs, "--set")}


def placeholder_options(resource: Resource):
    def decorate(command):
        for name in reversed(resource.placeholders):
            command = click.option(f"--{option_name(name)}", name, required=True, help=f"The {name} id.")(command)
        return command

    return decorate


def id_argument(resource: Resource):
    def decorate(command):
        if resource.singleton:
            return command
        return click.argument("ident", metavar=resource.id_label)(command)

    return decorate


# --- Verbs -------------------------------------------------------------------------------------------------------


def list_command(resource: Resource) -> click.Command:
    @click.command("list", help="List them (every page, unless --limit).")
    @placeholder_options(resource)
    @click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="An API filter. Repeatable.")
    @click.option("--search", help="Free-text search.")
    @click.option("--limit", type=click.IntRange(min=1), help="At most this many rows (default: all).")
    @output_options
    def command(filters, search, limit, **values):
        state = current_state()
        params = parse_pairs(filters, "--filter")
        for name, _ in resource.filters:
            if values.get(name) is not None:
                params[name] = values[name]
        if search:
            params["search"] = search
        api = state.api()
        path = list_path(resource, values)
        if values.get("follow"):
            follow(api, resource, path, params, limit or 20, values["interval"], values["max_polls"], state.fmt())
            return
        show_rows(list(api.rows(path, params, limit)), resource.columns, state.fmt())

    for name, text in reversed(resource.filters):
        command = click.option(f"--{option_name(name)}", name, help=text)(command)
    if resource.followable:
        command = click.option("--follow", is_flag=True, help="Keep printing new rows as they come.")(command)
        command = click.option(
            "--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between polls."
        )(command)
        command = click.option(
            "--max-polls", type=click.IntRange(min=0), help="Stop after this many polls (default: never)."
        )(command)
    return command


def follow(api, resource: Resource, path: str, params: dict, tail: int, interval: float, max_polls, fmt: str):
    """The newest `tail` rows oldest first, then every new row as it appears. Rows are polled for with `since` (the
    newest timestamp seen, inclusive), skipping those already printed, so none is lost or printed twice."""
    rows = list(api.rows(path, params, tail))
    for row in reversed(rows):
        show_one_row(row, resource.columns, fmt)
    newest = rows[0]["timestamp"] if rows else None
    seen = {row["id"] for row in rows if row["timestamp"] == newest}
    polls = 0
    while max_polls is None or polls < max_polls:
        time.sleep(interval)
        polls += 1
        query = dict(params, since=newest) if newest else dict(params)
        fresh = [row for row in api.rows(path, query) if row["id"] not in seen]
        for row in reversed(fresh):
            show_one_row(row, resource.columns, fmt)
        if fresh:
            newest = fresh[0]["timestamp"]
            seen = {row["id"] for row in fresh if row["timestamp"] == newest} | (
                seen if newest == query.get("since") else set()
            )


def get_command(resource: Resource) -> click.Command:
    @click.command("get", help="Show one." if not resource.singleton else "Show it.")
    @id_argument(resource)
    @placeholder_options(resource)
    @output_options
    def command(ident=None, **values):
        state = current_state()
        show_object(state.api().json("GET", detail_path(resource, values, ident)), state.fmt())

    return command


def create_command(resource: Resource) -> click.Command:
    @click.command("create", help="Create one (fields with --set or -f).")
    @placeholder_options(resource)
    @body_options
    @output_options
    def command(source, pairs, **values):
        state = current_state()
        body = request_body(source, pairs)
        show_object(state.api().json("POST", list_path(resource, values), json=body), state.fmt())

    return command


def update_command(resource: Resource) -> click.Command:
    @click.command("update", help="Change fields (the others stay as they are).")
    @id_argument(resource)
    @placeholder_options(resource)
    @body_options
    @output_options
    def command(source, pairs, ident=None, **values):
        state = current_state()
        body = request_body(source, pairs)
        if not body:
            raise UsageProblem("Nothing to change: give fields with --set or -f.")
        show_object(state.api().json("PATCH", detail_path(resource, values, ident), json=body), state.fmt())

    return command


def delete_command(resource: Resource) -> click.Command:
    @click.command("delete", help="Delete one.")
    @id_argument(resource)
    @placeholder_options(resource)
    @output_options
    def command(ident=None, **values):
        state = current_state()
        state.api().request("DELETE", detail_path(resource, values, ident))
        click.echo(f"Deleted {resource.name} {ident}.", err=True)

    return command


def action_command(resource: Resource, action: Action) -> click.Command:
    def command(ident=None, source=None, pairs=(), out=None, force=False, upload=None, **values):
        state = current_state()
        api = state.api()
        base = detail_path(resource, values, ident) if action.detail else list_path(resource, values)
        path = base + action.suffix
        if action.download:
            destination = Path(out or action.download.format(id=ident))
            size = api.download(path, destination, secret=action.secret, force=force)
            mode = " (mode 0600)" if action.secret else ""
            click.echo(f"Wrote {destination}: {size} bytes{mode}.", err=True)
            return
        kwargs = {}
        if upload is not None:
            with open(upload, "rb") as handle:
                kwargs["files"] = {action.upload: (Path(upload).name, handle.read())}
        elif action.body:
            kwargs["json"] = request_body(source, pairs)
        result = api.json(action.method, path, **kwargs)
        if result is None:
            click.echo(f"Done: {action.name} {ident or ''}".rstrip() + ".", err=True)
        else:
            show_object(result, state.fmt())

    command = output_options(command)
    if action.download:
        command = click.option("--force", is_flag=True, help="Overwrite the file if it exists.")(command)
        command = click.option(
            "--out", type=click.Path(dir_okay=False), help=f"Where to write it (default: {action.download})."
        )(command)
    if action.body:
        command = body_options(command)
    if action.upload:
        command = click.argument("upload", metavar="FILE", type=click.Path(exists=True, dir_okay=False))(command)
    command = placeholder_options(resource)(command)
    if action.detail:
        command = id_argument(resource)(command)
    return click.command(action.name, help=action.help)(command)


VERBS = {
    "list": list_command,
    "get": get_command,
    "create": create_command,
    "update": update_command,
    "delete": delete_command,
}


def resource_group(resource: Resource) -> click.Group:
    group = click.Group(resource.name, help=resource.help)
    for verb in resource.verbs:
        group.add_command(VERBS[verb](resource))
    for action in resource.actions:
        group.add_command(action_command(resource, action))
    return group


def add_resource_commands(root: click.Group) -> None:
    groups = {
        "nats": click.Group("nats", help="The organization's NATS account, roles, users, exports and imports."),
        "nebula": click.Group("nebula", help="The organization's Nebula CAs, networks and hosts."),
    }
    for resource in RESOURCES:
        parent = groups[resource.group] if resource.group else root
        parent.add_command(resource_group(resource))
    for group in groups.values():
        root.add_command(group)
