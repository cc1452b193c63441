"""Errors the client reports in a sentence, and the exit code each one ends the command with.

0 success; 1 the API refused the request (its error text is printed); 2 usage (bad options, unknown
context, a file that is not valid); 3 the API could not be reached or did not accept the credentials
(no URL or token configured, connection or TLS failure, timeout, HTTP 401).
"""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class CliProblem(click.ClickException):
    exit_code = EXIT_REFUSED

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class ApiRefusal(CliProblem):
    """The API answered with an error (4xx other than 401, or 5xx)."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class UsageProblem(CliProblem):
    exit_code = EXIT_USAGE


class ConfigProblem(CliProblem):
    """Nowhere to connect to, or no credentials: nothing the API could have answered."""

    exit_code = EXIT_UNREACHABLE


class Unreachable(CliProblem):
    exit_code = EXIT_UNREACHABLE
