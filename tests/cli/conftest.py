"""The real `stoneage` client, run as a subprocess against the live test server.

`stoneage` fixture: contexts `acme` (an API token of acme's owner, the current one), `globex` (of globex's
owner, the outsider) and `root` (a platform token of the superuser), in a configuration file of the test's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def data(self):
        return json.loads(self.out)

    @property
    def yaml(self):
        return yaml.safe_load(self.out)


class Cli:
    def __init__(self, env: dict, cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "stoneage.cli", *args],
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kwargs):
        """Runs a command that must succeed; its JSON output, if any."""
        result = self(*args, **kwargs)
        assert result.code == 0, f"stoneage {' '.join(args)} → {result.code}: {result.err}"
        return json.loads(result.out) if result.out.strip() else None

    def refused(self, *args: str, code: int = 1, **kwargs) -> Result:
        result = self(*args, **kwargs)
        assert result.code == code, f"stoneage {' '.join(args)} → {result.code}, expected {code}: {result.err}"
        assert "Error: " in result.err, result.err
        return result


def client_env(tmp_path: Path) -> dict:
    """No Django settings, no project secrets, a home and config file of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STONEAGE_", "DATABASE_", "REDIS_", "XDG_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path / "home"),
        STONEAGE_CONFIG=str(tmp_path / "config" / "stoneage.yaml"),
    )
    return env


@pytest.fixture
def world(transactional_db):
    """The tenancy world with a NATS trust chain (each organization gets its account)."""
    from credentials.services import nats as svc
    from tests.support.world import build_world

    svc.bootstrap()
    return build_world()


@pytest.fixture
def tokens(world):
    from tenancy import services
    from tenancy.roles import Role

    _, acme = services.create_api_token(user=world.user(Role.OWNER), organization=world.org, name="cli")
    _, globex = services.create_api_token(user=world.outsider, organization=world.other_org, name="cli")
    _, root = services.create_platform_token(user=world.superuser, name="cli")
    return {"acme": acme, "globex": globex, "root": root}


@pytest.fixture
def stoneage(live_server, tmp_path, tokens) -> Cli:
    cli = Cli(client_env(tmp_path), tmp_path)
    for name, org in [("acme", "acme"), ("globex", "globex"), ("root", "")]:
        args = ["context", "add", name, "--url", live_server.url, "--token", tokens[name]]
        cli.ok(*args, *(["--org", org] if org else []))
    return cli
