"""Check that the dev stack's servers will be able to listen on their ports, before starting anything.

    python deploy/port_check.py WEB_PORT=127.0.0.1:8000 NATS_PORT=127.0.0.1:4223 ...

Exits 0 when every port is free, otherwise prints one sentence per port that is not and exits 1.

The probe binds the way the servers do (daphne, nats-server and redis-server all set SO_REUSEADDR), on the
address they will use: sockets left in TIME_WAIT by a stack stopped a moment ago do not stop the servers, so
they do not count as "in use" here either.
"""

from __future__ import annotations

import errno
import socket
import sys


def bind_error(host: str, port: int) -> OSError | None:
    """The error a server binding host:port with SO_REUSEADDR would get, or None when it could listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error
    return None


def problem(name: str, host: str, port: int) -> str | None:
    """A sentence saying why the server configured by the variable `name` cannot listen there, or None."""
    error = bind_error(host, port)
    if error is None:
        return None
    if error.errno == errno.EADDRINUSE:
        return f"port {port} ({name}) is already in use; stop what holds it or set {name} to another port."
    return f"cannot listen on {host}:{port} ({name}): {error.strerror or error}."


def parse(spec: str) -> tuple[str, str, int]:
    name, _, address = spec.partition("=")
    host, _, port = address.rpartition(":")
    if not name or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected NAME=HOST:PORT with a port number from 1 to 65535, got {spec!r}.")
    return name, host.strip("[]"), int(port)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: port_check.py NAME=HOST:PORT ...", file=sys.stderr)
        return 2
    try:
        specs = [parse(spec) for spec in argv]
    except ValueError as error:
        print(f"port_check: {error}", file=sys.stderr)
        return 2
    problems = [p for p in (problem(*spec) for spec in specs) if p]
    for sentence in problems:
        print(f"error: {sentence}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
