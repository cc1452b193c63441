"""Project-level guarantees: production settings pass the deploy checks, the API schema and docs work offline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, env_overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_overrides={
            "DEBUG": "false",
            "SECRET_KEY": "p" * 20 + "Zq8!k2#Lm9@vX4$nB7^cT1&wR5*yH3(jF6)dG0",
            "ALLOWED_HOSTS": "control.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_fails_fast_in_production():
    result = run_manage("check", env_overrides={"DEBUG": "false", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize(
    "variable, value",
    [("DEBUG", "treu"), ("SECURE_SSL_REDIRECT", "flase"), ("EMAIL_PORT", "smtp"), ("NATS_REQUEST_TIMEOUT", "5m")],
)
def test_a_malformed_setting_stops_the_start_naming_the_variable(variable, value):
    # A typo must not quietly turn a switch off (or HTTPS redirects on) or a timeout into another number.
    result = run_manage(
        "check", env_overrides={"DEBUG": "false", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "x", variable: value}
    )
    assert result.returncode != 0
    assert f"{variable} " in result.stderr and repr(value) in result.stderr, result.stderr


@pytest.mark.django_db
def test_openapi_schema_and_offline_docs(client, world):
    client.force_login(world.user("viewer"))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/orgs/{org_slug}/memberships/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html  # assets come from the sidecar, not the internet
