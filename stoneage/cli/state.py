"""What a command runs with: the context (URL, token, default organization), the organization and the output
format, from the options, the environment and the configuration file.

Precedence: `--context NAME` (that context's URL and token) > `STONEAGE_URL` / `STONEAGE_TOKEN` >
`STONEAGE_CONTEXT` > the current context. The organization: `--org` > `STONEAGE_ORG` > the context's default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from stoneage.cli.client import Api
from stoneage.cli.config import Config, Context
from stoneage.cli.errors import UsageProblem
from stoneage.cli.output import default_format


@dataclass
class State:
    context_flag: str | None = None
    org_flag: str | None = None
    output: str | None = None
    timeout: float = 30.0
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load()
        return self._config

    def context(self) -> Context | None:
        name = self.context_flag or os.environ.get("STONEAGE_CONTEXT") or self.config().current
        return self.config().get(name) if name else None

    def api(self) -> Api:
        context = self.context()
        if self.context_flag:
            url, token = context.url, context.token
        else:
            url = os.environ.get("STONEAGE_URL") or (context.url if context else "")
            token = os.environ.get("STONEAGE_TOKEN") or (context.token if context else "")
        return Api(url, token, timeout=self.timeout)

    def org(self) -> str:
        context = self.context()
        org = self.org_flag or os.environ.get("STONEAGE_ORG") or (context.org if context else "")
        if not org:
            raise UsageProblem(
                "No organization: pass --org SLUG, set STONEAGE_ORG, or give the context a default "
                "(`stoneage context add NAME --org SLUG …`)."
            )
        return org

    def fmt(self) -> str:
        return self.output or default_format()


def current_state() -> State:
    return click.get_current_context().ensure_object(State)


def _remember(attribute: str):
    def callback(ctx: click.Context, param, value):
        if value is not None:
            setattr(ctx.ensure_object(State), attribute, value)
        return value

    return callback


def output_options(command):
    """`--context`, `--org` and `-o/--output` on any command, and before it (`stoneage -o yaml things list`)."""
    command = click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json", "yaml"]),
        expose_value=False,
        callback=_remember("output"),
        help="table (default on a terminal), json (default when piped) or yaml.",
    )(command)
    command = click.option("--org", expose_value=False, callback=_remember("org_flag"), help="Organization slug.")(
        command
    )
    return click.option(
        "--context",
        expose_value=False,
        callback=_remember("context_flag"),
        help="Use this context (overrides STONEAGE_URL, STONEAGE_TOKEN and STONEAGE_CONTEXT).",
    )(command)
