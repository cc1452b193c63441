"""Log lines: JSON (or text) with the request id on every one, including the lines Django writes after the
request's context has closed."""

import io
import json
import logging
import subprocess
import sys

import pytest

from audit.context import audit_context
from stoneage import logs


@pytest.fixture
def captured():
    """The root logger's records, formatted as production does (JSON, the request id filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_a_line_is_one_json_object_with_the_request_id(captured):
    with audit_context(request_id="req-0123456789"):
        logging.getLogger("stoneage.test").warning("pushed %d accounts", 3, extra={"account": "acme"})
    logging.getLogger("stoneage.test").warning("outside any request")
    inside, outside = captured()[-2:]
    assert inside["message"] == "pushed 3 accounts"
    assert (inside["level"], inside["logger"], inside["request_id"]) == ("WARNING", "stoneage.test", "req-0123456789")
    assert inside["account"] == "acme"
    assert inside["time"].endswith("+00:00")
    assert outside["request_id"] == logs.NO_REQUEST


@pytest.mark.django_db
def test_a_request_logs_under_the_id_it_was_given_and_returns_it(client, captured):
    response = client.get("/no/such/page/?token=not-for-the-logs", HTTP_X_REQUEST_ID="edge-proxy-7f3a9c")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-proxy-7f3a9c"
    line = next(line for line in captured() if line["logger"] == "django.request")
    # Django logs the 404 after the request's context closed: the id comes from the response.
    assert line["request_id"] == "edge-proxy-7f3a9c"
    assert (line["method"], line["path"], line["status_code"]) == ("GET", "/no/such/page/", 404)
    assert "not-for-the-logs" not in json.dumps(captured())


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["short", "x" * 65, "bad id with spaces", "-leading-dash-0001", "évènement-0001"])
def test_an_unusable_request_id_is_replaced(client, captured, given):
    response = client.get("/no/such/page/", HTTP_X_REQUEST_ID=given)
    generated = response["X-Request-ID"]
    assert generated != given and len(generated) == 32
    line = next(line for line in captured() if line["logger"] == "django.request")
    assert line["request_id"] == generated


def test_text_lines_carry_the_request_id_too():
    record = logging.LogRecord("stoneage.test", logging.INFO, __file__, 1, "hello", None, None)
    with audit_context(request_id="req-text-000001"):
        logs.RequestIdFilter().filter(record)
    assert "[req-text-000001] hello" in logging.Formatter(logs.TEXT_FORMAT).format(record)


def settings_value(name: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin", "DJANGO_SETTINGS_MODULE": "stoneage.settings", "SECRET_KEY": "k" * 50}
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print(settings.{name})"],
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_json_is_the_default_in_production_and_text_in_development():
    assert settings_value("LOG_FORMAT").stdout.strip() == "json"
    assert settings_value("LOG_FORMAT", DEBUG="1").stdout.strip() == "text"
    assert settings_value("LOG_FORMAT", LOG_FORMAT="text").stdout.strip() == "text"
    refused = settings_value("LOG_FORMAT", LOG_FORMAT="xml")
    assert refused.returncode != 0 and "LOG_FORMAT must be json or text" in refused.stderr
