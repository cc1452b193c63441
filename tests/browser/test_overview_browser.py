"""The organization overview in a real browser: reached from the index, switched from the header, readable in the
dark theme. Screenshots land in tests/artifacts/ (not committed)."""

import re
from pathlib import Path

import pytest

from credentials.services import nats as nats_svc
from tests.browser.conftest import login
from tests.support.world import build_world, make_org

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def luminance(css_colour: str) -> float:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_a_member_opens_the_overview_and_switches_organization_from_the_header(page, live_server):
    nats_svc.bootstrap()
    world = build_world()
    owner = world.user("owner")
    make_org("initech", owner, "Initech")
    login(page, live_server, owner.username)

    page.click("#my-organizations >> text=Acme Corp")
    page.wait_for_url(re.compile(r"/admin/orgs/acme/$"))
    assert page.inner_text("#content h1") == "Acme Corp"
    assert page.inner_text("#overview-role") == "Owner"
    assert "Members" in page.inner_text("#overview-counts")
    assert page.inner_text("#org-switcher summary").startswith("Acme Corp")
    screenshot(page, "overview.png")

    page.click("#org-switcher summary")
    assert page.is_visible("#org-switcher li.current >> text=Acme Corp")
    page.click("#org-switcher >> text=Initech")
    page.wait_for_url(re.compile(r"/admin/orgs/initech/$"))
    assert page.inner_text("#content h1") == "Initech"
    page.click("#org-switcher summary")
    assert page.inner_text("#org-switcher li.current a") == "Initech"
    assert "Globex" not in page.inner_text("#org-switcher")


def test_the_overview_follows_the_dark_colour_scheme(page, live_server):
    nats_svc.bootstrap()
    world = build_world()
    page.emulate_media(color_scheme="dark")
    login(page, live_server, world.user("auditor").username)
    page.goto(f"{live_server.url}/admin/orgs/acme/")
    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    card = page.evaluate("getComputedStyle(document.querySelector('#overview-counts .card')).backgroundColor")
    text = page.evaluate("getComputedStyle(document.querySelector('#overview-counts .number')).color")
    assert luminance(body) < 0.25, body
    assert luminance(card) < 0.25, card
    assert luminance(text) > 0.6, text
    screenshot(page, "overview-dark.png")

    # The account list's push state badge follows the theme too.
    page.goto(f"{live_server.url}/admin/credentials/account/")
    badge = page.evaluate("getComputedStyle(document.querySelector('#result_list .state')).backgroundColor")
    assert luminance(badge) < 0.25, badge
    page.emulate_media(color_scheme="light")
    badge = page.evaluate("getComputedStyle(document.querySelector('#result_list .state')).backgroundColor")
    assert luminance(badge) > 0.6, badge
