"""Contexts: kept in a 0600 file, switched, overridden, tokens never printed back; exit codes."""

import os
import stat
import subprocess
import sys
import tomllib

import pytest

from tests.cli.conftest import ROOT, Cli, client_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_client_runs_without_django():
    code = (
        "import sys, stoneage.cli.main\n"
        "loaded = [m for m in sys.modules if m == 'django' or m.startswith(('django.', 'celery', 'rest_framework'))]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["stoneage"].partition(":")
    assert (module, function) == ("stoneage.cli.main", "main")


def test_contexts_are_added_listed_switched_and_removed(stoneage, tmp_path, tokens, live_server):
    config = tmp_path / "config" / "stoneage.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700

    listed = stoneage.ok("context", "list", "-o", "json")
    assert [(c["name"], c["current"], c["org"]) for c in listed] == [
        ("acme", "*", "acme"),
        ("globex", "", "globex"),
        ("root", "", ""),
    ]
    table = stoneage("context", "list", "-o", "table").out
    for secret in tokens.values():
        assert secret not in table
        assert secret.split("_", 2)[2] not in str(listed)
    assert "sat_" in table and "…" in table

    assert stoneage("context", "current").out.strip() == "acme"
    assert stoneage.ok("whoami")["username"] == "olivia"
    assert stoneage.ok("--context", "globex", "whoami")["username"] == "charlie"
    assert stoneage.ok("whoami", env={"STONEAGE_CONTEXT": "root"})["username"] == "root"
    assert stoneage.ok("whoami", env={"STONEAGE_TOKEN": tokens["globex"]})["username"] == "charlie"

    stoneage.ok("context", "use", "globex")
    assert stoneage("context", "current").out.strip() == "globex"
    assert stoneage.ok("things", "list") == []  # globex's default organization

    stoneage.ok("context", "remove", "globex")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert [c["name"] for c in stoneage.ok("context", "list")] == ["acme", "root"]
    stoneage.refused("context", "current", code=3)
    stoneage.refused("whoami", code=3)  # no current context, nothing to connect to
    stoneage.refused("--context", "globex", "whoami", code=2)  # unknown context


def test_the_token_can_be_given_on_standard_input(live_server, tmp_path, tokens):
    cli = Cli(client_env(tmp_path), tmp_path)
    cli.ok("context", "add", "prod", "--url", live_server.url + "/", "--token", "-", input=tokens["acme"] + "\n")
    assert cli.ok("whoami")["username"] == "olivia"
    assert tokens["acme"] not in (tmp_path / "config" / "stoneage.yaml").read_text().replace(tokens["acme"], "", 1)


def test_the_default_config_file_is_under_the_users_config_directory(live_server, tmp_path, tokens):
    env = client_env(tmp_path)
    del env["STONEAGE_CONFIG"]
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    cli = Cli(env, tmp_path)
    cli.ok("context", "add", "prod", "--url", live_server.url, "--token", tokens["acme"])
    config = tmp_path / "xdg" / "stoneage" / "config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700


def test_connection_and_authentication_problems_exit_3(stoneage, live_server):
    bad = stoneage.refused("whoami", env={"STONEAGE_TOKEN": "sat_nope_nope"}, code=3)
    assert "401" in bad.err
    gone = stoneage.refused("--timeout", "2", "whoami", env={"STONEAGE_URL": "http://127.0.0.1:9"}, code=3)
    assert "Cannot reach" in gone.err


def test_usage_errors_exit_2(stoneage):
    stoneage.refused("things", "create", "--set", "novalue", code=2)
    stoneage.refused("things", "list", "--bogus", code=2)
    stoneage.refused("--context", "root", "things", "list", code=2)  # no organization
