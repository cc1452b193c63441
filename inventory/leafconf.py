"""`nats-leaf.conf`: the configuration of a leaf node's nats-server (no Django imports).

- operator mode with the operator JWT inline and a `MEMORY` resolver preloaded with the system account and the
  organization's account, so local devices authenticate at the edge with their own credentials, hub or no hub;
- JetStream in the leaf's own domain, so what devices publish is stored at the edge while the hub is away and the
  hub can source it across domains (`$JS.<domain>.API`);
- two leaf remotes to the hub: the organization's account with the leaf's credentials, and the system account with
  the leaf's system credentials, through which the hub's claim updates of the account (new scopes, revocations)
  reach the memory resolver while connected.

nats-server's configuration format is not JSON, but it reads JSON strings: every value written here is one, so no
path or JWT needs escaping rules of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paths:
    """Where files live on the leaf's machine (the bootstrap writes the creds there)."""

    creds: str = "leaf.creds"
    system_creds: str = "leaf-sys.creds"
    store_dir: str = "jetstream"
    host: str = "0.0.0.0"  # noqa: S104 - the leaf serves the site's devices
    port: int = 4222
    http_port: int = 0


@dataclass(frozen=True)
class LeafConf:
    server_name: str
    domain: str
    operator_jwt: str
    system_account: str
    #: Account public key → account JWT, for the memory resolver.
    accounts: dict[str, str]
    #: The organization's account, bound to the first remote.
    account: str
    hub_urls: list[str] = field(default_factory=list)


def _s(value: str) -> str:
    return json.dumps(value)


def render(conf: LeafConf, paths: Paths) -> str:
    urls = "[" + ", ".join(_s(url) for url in conf.hub_urls) + "]"
    lines = [
        "# nats-server configuration of a Stone Age leaf node; fetch the bootstrap again rather than editing it.",
        f"server_name: {_s(conf.server_name)}",
        f"host: {_s(paths.host)}",
        f"port: {paths.port}",
    ]
    if paths.http_port:
        lines.append(f"http: {_s(f'127.0.0.1:{paths.http_port}')}")
    lines += [
        "",
        f"operator: {_s(conf.operator_jwt)}",
        f"system_account: {_s(conf.system_account)}",
        "resolver: MEMORY",
        "resolver_preload: {",
        *[f"    {_s(key)}: {_s(jwt)}" for key, jwt in conf.accounts.items()],
        "}",
        "",
        "jetstream {",
        f"    domain: {_s(conf.domain)}",
        f"    store_dir: {_s(paths.store_dir)}",
        "}",
        "",
        "leafnodes {",
        "    remotes: [",
        f"        {{ urls: {urls}, account: {_s(conf.account)}, credentials: {_s(paths.creds)} }}",
        f"        {{ urls: {urls}, account: {_s(conf.system_account)}, credentials: {_s(paths.system_creds)} }}",
        "    ]",
        "}",
    ]
    return "\n".join(lines) + "\n"
