"""The deploy files are checked by the tools that will read them: `check --deploy` with the example environment,
`docker compose config`, `systemd-analyze verify`, `nats-server -t` on the cluster and leaf configs made from our
own `nats_export`, and `caddy validate`. A tool this machine lacks skips its test, saying which."""

from __future__ import annotations

import base64
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.integration.support import _binary

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def example_environment() -> dict[str, str]:
    """deploy/stoneage.env.example with real keys where it says change-me."""
    values = {}
    for line in (DEPLOY / "stoneage.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    values["STONEAGE_SECRET_KEYS"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values["STONEAGE_AUDIT_KEYS"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values["DATABASE_URL"] = os.environ.get("DATABASE_URL", "sqlite:////tmp/stoneage-check-deploy.sqlite3")
    return values


def run_manage(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "stoneage.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_environment_passes_check_deploy_at_warning_level():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=example_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_production_is_left_insecure():
    env = {**example_environment(), "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W004" in result.stderr


def test_production_serves_static_files_through_whitenoise():
    script = (
        "from django.conf import settings;"
        "print(settings.STORAGES['staticfiles']['BACKEND']);"
        "print('whitenoise.middleware.WhiteNoiseMiddleware' in settings.MIDDLEWARE)"
    )
    result = run_manage("shell", "-c", script, env=example_environment())
    assert result.stdout.split()[-2:] == ["whitenoise.storage.CompressedManifestStaticFilesStorage", "True"], result


# --- docker compose ------------------------------------------------------------------------------------------------


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_the_compose_file_is_valid(tmp_path):
    command = compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed here")
    for name in ("docker-compose.yml", "Caddyfile"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    shutil.copy(DEPLOY / "stoneage.env.example", tmp_path / "stoneage.env")
    env = {**os.environ, "POSTGRES_PASSWORD": "compose-check"}
    result = subprocess.run(
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for service in ("postgres", "redis", "init", "nats", "nats-reconcile", "web", "worker", "beat", "caddy"):
        assert re.search(rf"^  {service}:$", result.stdout, re.M), f"no service {service}"
    rendered = " ".join(result.stdout.split())  # long commands are folded over lines
    assert "bootstrap --no-superuser && python manage.py nats_export --output /var/lib/stoneage/nats" in rendered
    assert "/var/lib/stoneage/nats/nats.conf" in rendered


def test_compose_refuses_to_start_without_a_database_password(tmp_path):
    command = compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed here")
    shutil.copy(DEPLOY / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(DEPLOY / "stoneage.env.example", tmp_path / "stoneage.env")
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    result = subprocess.run(
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "config"], capture_output=True, text=True, env=env
    )
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


# --- systemd -----------------------------------------------------------------------------------------------------


def test_the_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    venv_bin = Path(sys.executable).parent
    env_file = tmp_path / "stoneage.env"
    env_file.write_text("")
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {
        "stoneage-web.service",
        "stoneage-worker.service",
        "stoneage-beat.service",
        "nats-server.service",
    }
    for unit in units:
        # The units name the production paths and users; point them at this machine's so the executables exist.
        text = unit.read_text()
        assert "EnvironmentFile=/etc/" in text
        text = (
            text.replace("/srv/stoneage/.venv/bin/", f"{venv_bin}/")
            .replace("/usr/local/bin/nats-server", _binary("nats-server"))
            .replace("/etc/stoneage/stoneage.env", str(env_file))
            .replace("/etc/nats/nats.env", str(env_file))
        )
        text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.M)
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *[str(tmp_path / u.name) for u in units]], capture_output=True, text=True, timeout=60
    )
    if "Failed to connect to bus" in result.stderr or "System has not been booted with systemd" in result.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    # Unknown keys and bad values are only warnings: any output at all is a failure.
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


# --- nats-server ---------------------------------------------------------------------------------------------------


@pytest.fixture
def nats_etc(db, tmp_path):
    """/etc/nats of a hub server and of an edge site, with the trust chain of this test's platform."""
    from credentials.models import Account
    from credentials.services import nats as svc
    from tests.support.world import build_world

    svc.bootstrap()
    world = build_world()
    etc = tmp_path / "etc"
    call_command("nats_export", output=str(etc), preload_account=[world.org.slug], stdout=io.StringIO())
    leaf_user = svc.create_user(account=Account.objects.get(organization=world.org), name="edge-site-1")
    (etc / "leaf.creds").write_text(svc.user_creds(leaf_user))
    for source in [*(DEPLOY / "nats" / "cluster").glob("*.conf"), DEPLOY / "nats" / "leaf.conf"]:
        text = source.read_text().replace("/etc/nats/", f"{etc}/").replace("/var/lib/nats", str(tmp_path / "var"))
        (etc / source.name).write_text(text)
    return etc


def nats_test(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_binary("nats-server"), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30, cwd=config.parent
    )


@pytest.mark.parametrize("config", ["nats-a.conf", "nats-b.conf", "nats-c.conf", "leaf.conf"])
def test_the_nats_configs_pass_nats_server_t(nats_etc, config):
    result = nats_test(nats_etc / config)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr + result.stdout


def test_the_cluster_config_names_three_routes_and_a_full_resolver():
    text = (DEPLOY / "nats" / "cluster" / "cluster.conf").read_text()
    assert len(re.findall(r"nats-route://nats-[abc]\.internal:6222", text)) == 3
    assert re.search(r"type: full", text) and 'include "trust.conf"' in text


def test_nats_server_t_refuses_a_cluster_whose_trust_chain_is_broken(nats_etc):
    (nats_etc / "operator.jwt").write_text("not a JWT")
    result = nats_test(nats_etc / "nats-a.conf")
    assert result.returncode != 0 and "operator" in result.stderr


# --- Caddy -------------------------------------------------------------------------------------------------------


def caddy_validate(path: Path) -> subprocess.CompletedProcess:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed here (apt-get install caddy)")
    return subprocess.run(
        [caddy, "validate", "--config", str(path), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_DATA_HOME": str(path.parent), "XDG_CONFIG_HOME": str(path.parent)},
    )


def test_the_caddyfile_validates_and_routes_what_it_must(tmp_path):
    config = tmp_path / "Caddyfile"
    shutil.copy(DEPLOY / "Caddyfile", config)
    result = caddy_validate(config)
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    for route in ("/ws/*", "/static/*", "/api/v1/devices/*", "/api/v1/enroll/*"):
        assert route in text


def test_caddy_validate_refuses_a_broken_caddyfile(tmp_path):
    config = tmp_path / "Caddyfile"
    config.write_text((DEPLOY / "Caddyfile").read_text().replace("reverse_proxy", "reverse_proxxy", 1))
    assert caddy_validate(config).returncode != 0
