"""The Live state panel in Chromium against daphne (websockets) and a real nats-server: a value the device
publishes with its own credentials shows within 2 s; a desired value set in the panel reaches the device's
watch; the floorplan colours the thing. Screenshots are saved under the test's tmp_path (printed)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
from django.db import connection

from tests.browser.conftest import login
from tests.integration import live
from tests.integration.conftest import *  # noqa: F403 - nats-server, Celery worker and client loop fixtures
from tests.integration.support import Process, database_url, free_port, port_open
from tests.integration.twin_support import Device, creds_of, make_device, make_sensor
from tests.inventory.admin_support import make_floorplan, make_location
from tests.support.world import build_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SHOWN_WITHIN = 2.0  # seconds from the device's put to the value on the page


class Daphne(Process):
    def __init__(self, directory, env: dict):
        super().__init__("daphne", directory / "daphne.log")
        self.port = free_port()
        self.env = env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daphne:
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "stoneage.asgi:application"]
        self._spawn(args, env=self.env)
        deadline = time.monotonic() + 20
        while not port_open(self.port):
            self.check_alive()
            assert time.monotonic() < deadline, "daphne did not listen"
            time.sleep(0.05)
        return self


@pytest.fixture
def daphne(nats_server, worker_env, tmp_path):
    env = {**worker_env, "DATABASE_URL": database_url(connection.settings_dict), "NATS_URL": nats_server.url}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = Daphne(tmp_path, env).start()
    yield server
    server.stop()


@pytest.fixture
def fleet(celery_worker, nats_server):
    world = build_world()
    site = make_location(world.org, "hq")
    world.thing = make_device(world.org, make_sensor(world.org), "s-01")
    world.thing.location = site
    world.thing.save()
    world.floorplan = make_floorplan(world.org, site)
    world.floorplan.placements.create(organization=world.org, thing=world.thing, x=100, y=100)
    world.creds = creds_of(world.thing)
    live.wait_pushed(10)
    return world


def test_the_panel_shows_what_the_device_reports_and_sends_it_desired_state(
    page, browser, daphne, fleet, nats_server, client_loop, tmp_path
):
    device = Device(nats_server.url, fleet.creds, "s-01")
    client_loop.run(device.connect())
    client_loop.run(device.kv("twin"))  # the buckets exist (created after the account's first push)
    client_loop.run(device.watch_desired())

    login(page, daphne, fleet.user("owner").username)
    page.goto(f"{daphne.url}/admin/inventory/thing/{fleet.thing.pk}/change/")
    page.wait_for_selector("#twin-status:text-is('Live')")

    started = time.monotonic()
    client_loop.run(device.report("temperature", 21.5))
    page.wait_for_selector(
        'tr[data-property="temperature"] td.twin-reported:text-is("21.5")', timeout=SHOWN_WITHIN * 1000
    )
    shown = time.monotonic() - started
    assert shown < SHOWN_WITHIN, f"shown after {shown:.2f}s"
    page.screenshot(path=str(tmp_path / "twin-reported.png"), full_page=True)

    page.fill("#twin-property", "mode")
    page.fill("#twin-value", '"eco"')
    page.click("#twin-set")
    assert client_loop.run(asyncio.wait_for(device.desired.get(), 5)) == ("mode", b'"eco"')
    page.wait_for_selector('tr[data-property="mode"] td.twin-drift-yes')
    assert "differs" in page.inner_text('tr[data-property="mode"] td.twin-drift')
    page.screenshot(path=str(tmp_path / "twin-desired-drift.png"), full_page=True)

    client_loop.run(device.report("mode", "eco"))  # the device applies it and echoes it
    page.wait_for_selector('tr[data-property="mode"] td.twin-drift-no:text-is("in line")')
    page.screenshot(path=str(tmp_path / "twin-in-line.png"), full_page=True)

    page.goto(f"{daphne.url}/admin/inventory/floorplan/{fleet.floorplan.pk}/change/")
    page.wait_for_selector('.plan-marker[data-code="s-01"][data-twin="online"]')
    page.screenshot(path=str(tmp_path / "twin-floorplan.png"), full_page=True)
    assert device.errors == []
    client_loop.run(device.close())
    print(f"screenshots: {tmp_path}")
    assert sorted(os.listdir(tmp_path)).count("twin-floorplan.png") == 1
