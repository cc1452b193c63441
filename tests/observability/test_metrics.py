"""/metrics: who may read it, and that each figure follows what it measures."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials import push
from credentials.models import Account, AccountTombstone, CertificateAuthority, Host
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from stoneage import metrics
from tests.observability.support import TOKEN, samples, scrape, value
from tests.support.world import make_org, make_user

pytestmark = pytest.mark.django_db


# --- Who may read it -----------------------------------------------------------------------------------------


def test_it_does_not_exist_until_a_token_or_an_allow_list_is_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_it_answers_the_bearer_token(client, metrics_on):
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_it_hides_from_a_missing_or_wrong_token(client, metrics_on, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    assert client.get("/metrics", **extra).status_code == 404


def test_it_answers_addresses_on_the_allow_list(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", ["10.0.0.0/8", "2001:db8::1"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 404
    # X-Forwarded-For counts only through a trusted proxy.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 404
    settings.AUDIT_TRUSTED_PROXIES = ["192.0.2.1"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200


def test_with_both_set_both_must_pass(client, metrics_on):
    metrics_on.METRICS_ALLOW = ["10.0.0.0/8"]
    good = f"Bearer {TOKEN}"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=good).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION=good).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404


def test_a_malformed_allow_list_stops_the_start():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "METRICS_ALLOW": "10.0.0.0/8,not-an-address", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "METRICS_ALLOW" in result.stderr


# --- Request latency -----------------------------------------------------------------------------------------


def test_requests_are_timed_by_view_name_not_by_path(client, metrics_on):
    before = scrape(client)
    client.get("/healthz")
    client.get("/api/v1/orgs/some-org-42/things/")  # 403 for an anonymous caller, same view for every slug
    client.get("/api/v1/orgs/another-org/things/")
    client.get("/no/such/page/8c1e0c")
    after = scrape(client)

    def grew(view: str, status: str) -> float:
        labels = {"view": view, "method": "GET", "status": status}
        name = "stoneage_http_request_duration_seconds_count"
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("healthz", "2xx") == 1
    assert grew("inventory-api:thing-list", "4xx") == 2
    assert grew("unresolved", "4xx") == 1
    views = {dict(labels).get("view") for name, labels in after if name.startswith("stoneage_http_request")}
    assert not any("/" in (view or "") or "some-org-42" in (view or "") for view in views)


# --- From the database ---------------------------------------------------------------------------------------


def test_push_backlog_counts_accounts_behind_and_deletions_owed(client, metrics_on):
    nats_svc.bootstrap()
    make_org("acme", make_user("olivia"))
    make_org("globex", make_user("charlie"))
    behind = Account.objects.behind().count()
    assert behind == 3  # SYS and two organizations; no NATS in this test: nothing was pushed
    found = scrape(client)
    assert value(found, "stoneage_nats_push_backlog", kind="update") == behind
    assert value(found, "stoneage_nats_push_backlog", kind="delete") == 0
    assert value(found, "stoneage_nats_push_backlog_oldest_seconds") >= 0

    Account.objects.update(pushed_revision=F("revision"))
    AccountTombstone.objects.create(public_key="A" + "B" * 55, name="gone")
    found = scrape(client)
    assert value(found, "stoneage_nats_push_backlog", kind="update") == 0
    assert value(found, "stoneage_nats_push_backlog", kind="delete") == 1
    assert value(found, "stoneage_nats_push_backlog_oldest_seconds") == 0


def test_cas_and_host_certificates_expiring_within_30_days(client, metrics_on):
    org = make_org("acme", make_user("olivia"))
    network = nebula_svc.create_network(organization=org, name="mesh", cidr="10.42.0.0/24")
    hosts = [nebula_svc.create_host(network=network, hostname=f"h{i}") for i in range(3)]
    found = scrape(client)
    assert value(found, "stoneage_nebula_cas_expiring", state="expiring") == 0
    assert value(found, "stoneage_nebula_host_certificates_expiring", state="expiring") == 0

    now = timezone.now()
    CertificateAuthority.objects.filter(organization=org).update(not_after=now + timedelta(days=29))
    Host.objects.filter(pk=hosts[0].pk).update(not_after=now + timedelta(days=10))
    Host.objects.filter(pk=hosts[1].pk).update(not_after=now - timedelta(days=1))
    Host.objects.filter(pk=hosts[2].pk).update(not_after=now + timedelta(days=31))
    found = scrape(client)
    assert value(found, "stoneage_nebula_cas_expiring", state="expiring") == 1
    assert value(found, "stoneage_nebula_host_certificates_expiring", state="expiring") == 1
    assert value(found, "stoneage_nebula_host_certificates_expiring", state="expired") == 1

    nebula_svc.deactivate_host(Host.objects.get(pk=hosts[0].pk))  # a host switched off no longer counts
    found = scrape(client)
    assert value(found, "stoneage_nebula_host_certificates_expiring", state="expiring") == 0


def test_database_gauges_are_reused_for_the_cache_period(client, metrics_on):
    metrics_on.METRICS_CACHE_SECONDS = 60
    nats_svc.bootstrap()
    make_org("acme", make_user("olivia"))
    scrape(client)
    with CaptureQueriesContext(connection) as first:
        scrape(client)
    metrics.DATABASE.clear()
    with CaptureQueriesContext(connection) as uncached:
        scrape(client)
    assert len(first) < len(uncached)
    assert not any("credentials_account" in q["sql"] for q in first.captured_queries)


# --- Shared through Redis ------------------------------------------------------------------------------------


def test_push_failures_and_latency_are_counted(client, metrics_on):
    from tests.integration.support import free_port

    nats_svc.bootstrap()
    account = Account.objects.get(organization=make_org("acme", make_user("olivia")))
    metrics_on.NATS_URL = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    assert not push.push([account]).ok
    found = scrape(client)
    assert value(found, "stoneage_nats_push_failures_total", kind="update") == 1
    assert value(found, "stoneage_nats_push_failures_total", kind="delete") == 0
    # Never sent: no round trip to time.
    assert value(found, "stoneage_nats_push_duration_seconds_count", kind="update") is None

    metrics.record_pushes([("update", 0.03, False), ("update", 7.0, True), ("delete", 0.2, False)])
    found = scrape(client)
    assert value(found, "stoneage_nats_push_duration_seconds_count", kind="update") == 2
    assert value(found, "stoneage_nats_push_duration_seconds_bucket", kind="update", le="0.05") == 1
    assert value(found, "stoneage_nats_push_duration_seconds_bucket", kind="update", le="+Inf") == 2
    assert value(found, "stoneage_nats_push_duration_seconds_sum", kind="update") == pytest.approx(7.03)
    assert value(found, "stoneage_nats_push_duration_seconds_count", kind="delete") == 1
    assert value(found, "stoneage_nats_push_failures_total", kind="update") == 2


def test_command_outcomes_start_at_zero_and_count(client, metrics_on):
    found = scrape(client)
    for status in ("sent", "acknowledged", "failed", "timed_out"):
        assert value(found, "stoneage_command_outcomes_total", status=status) == 0
    metrics.COMMAND_OUTCOMES.inc(status="acknowledged")
    metrics.COMMAND_OUTCOMES.inc(status="acknowledged")
    metrics.COMMAND_OUTCOMES.inc(status="timed_out")
    found = scrape(client)
    assert value(found, "stoneage_command_outcomes_total", status="acknowledged") == 2
    assert value(found, "stoneage_command_outcomes_total", status="timed_out") == 1
    with pytest.raises(ValueError):
        metrics.COMMAND_OUTCOMES.inc(outcome="acknowledged")


def test_an_eager_task_failure_is_counted(client, metrics_on):
    from celery import shared_task

    @shared_task(name="tests.observability.always_fails_eagerly")
    def always_fails():
        raise RuntimeError("boom")

    always_fails.apply()
    found = scrape(client)
    assert value(found, "stoneage_celery_task_failures_total", task="tests.observability.always_fails_eagerly") == 1


def test_without_redis_the_shared_metrics_say_so_and_the_rest_still_answers(client, metrics_on):
    from tests.integration.support import free_port

    metrics_on.METRICS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    metrics.COMMAND_OUTCOMES.inc(status="sent")  # dropped, raises nothing
    found = scrape(client)
    assert value(found, "stoneage_metrics_store_up") == 0
    assert value(found, "stoneage_nats_push_backlog", kind="update") is not None


# --- Set by the twin consumer --------------------------------------------------------------------------------


def test_twin_viewers_and_connections_are_gauges_of_this_process(client, metrics_on):
    metrics.TWIN_VIEWERS.inc(3)
    metrics.TWIN_NATS_CONNECTIONS.inc()
    try:
        found = scrape(client)
        assert value(found, "stoneage_twin_viewers") >= 3
        assert value(found, "stoneage_twin_nats_connections") >= 1
    finally:
        metrics.TWIN_VIEWERS.dec(3)
        metrics.TWIN_NATS_CONNECTIONS.dec()


def test_the_exposition_parses(client, metrics_on):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert samples(response.content.decode())
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
