"""The `stoneage` command: global options, contexts, `whoami`, the resource commands, `apply` and `export`.

Exit codes (see `errors.py`): 0 success; 1 the API refused the request; 2 usage; 3 the API could not be
reached or did not accept the token. Errors are one sentence on standard error, never a traceback.
"""

from __future__ import annotations

import sys

import click

from stoneage.cli import fleet
from stoneage.cli.commands import add_resource_commands
from stoneage.cli.config import Config, Context
from stoneage.cli.errors import ConfigProblem, UsageProblem
from stoneage.cli.output import show_object, show_rows
from stoneage.cli.state import State, current_state, output_options

EPILOG = (
    "Exit codes: 0 success; 1 the API refused the request (its error is printed); 2 usage; "
    "3 the API could not be reached or did not accept the token."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}, epilog=EPILOG)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="HTTP timeout, s.")
@output_options
@click.pass_context
def cli(ctx: click.Context, timeout: float) -> None:
    """Stone Age command-line client: manage organizations, NATS and Nebula credentials, inventory and audit
    through the REST API. Start with `stoneage context add NAME --url URL --token TOKEN --org SLUG`."""
    ctx.ensure_object(State).timeout = timeout


# --- Contexts ----------------------------------------------------------------------------------------------------


@cli.group()
def context() -> None:
    """Named API endpoints with their token and default organization (kept in a 0600 file)."""


@context.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The deployment's base URL, e.g. https://stoneage.example.com.")
@click.option("--token", help="An API token (asked for, hidden, when left out; '-' reads standard input).")
@click.option("--org", "default_org", default="", help="The organization commands use when --org is left out.")
@click.option("--use/--no-use", default=None, help="Make it the current context (the first one always is).")
def context_add(name: str, url: str, token: str | None, default_org: str, use: bool | None) -> None:
    """Add a context, or replace the one of that name."""
    if token == "-":  # noqa: S105 - the "read standard input" marker
        token = sys.stdin.readline().strip()
    elif token is None:
        token = click.prompt("Token", hide_input=True, err=True).strip()
    if not token:
        raise UsageProblem("The token is empty.")
    config = Config.load()
    config.contexts[name] = Context(name=name, url=url.rstrip("/"), token=token, org=default_org)
    if use or (use is None and not config.current):
        config.current = name
    config.save()
    current = " (current)" if config.current == name else ""
    click.echo(f"Context {name!r} saved in {config.path}{current}.", err=True)


@context.command("use")
@click.argument("name")
def context_use(name: str) -> None:
    """Make NAME the current context."""
    config = Config.load()
    config.get(name)
    config.current = name
    config.save()
    click.echo(f"Now using context {name!r}.", err=True)


@context.command("list")
@output_options
def context_list() -> None:
    """The contexts (tokens masked)."""
    config = Config.load()
    rows = [c.as_row(c.name == config.current) for c in config.contexts.values()]
    show_rows(rows, ("current", "name", "url", "org", "token"), current_state().fmt())


@context.command("current")
def context_current() -> None:
    """The name of the context commands use."""
    state = current_state()
    chosen = state.context()
    if chosen is None:
        raise ConfigProblem("No current context: add one with `stoneage context add`.")
    click.echo(chosen.name)


@context.command("remove")
@click.argument("name")
def context_remove(name: str) -> None:
    """Forget a context and its token."""
    config = Config.load()
    config.get(name)
    del config.contexts[name]
    if config.current == name:
        config.current = ""
    config.save()
    click.echo(f"Context {name!r} removed.", err=True)


@cli.command()
@output_options
def whoami() -> None:
    """Who the token acts as, and in which organizations."""
    state = current_state()
    show_object(state.api().json("GET", "me/"), state.fmt())


add_resource_commands(cli)
cli.add_command(fleet.apply_command)
cli.add_command(fleet.export_command)


def main() -> None:
    try:
        cli.main(prog_name="stoneage")
    except BrokenPipeError:  # `stoneage things list | head`
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:  # anything unforeseen is still one line, not a traceback
        click.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
