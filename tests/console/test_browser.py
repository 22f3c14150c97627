"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright.

Each test signs in through the form and clicks its way through the pages, saving a screenshot of
each page in ``tests/console/artifacts/``. The console's code is the same on both backends (the
store queries are covered on PostgreSQL by ``test_pages.py``), so these run on the embedded one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console.conftest import PASSWORD
from tests.console.story import HANNAH, dead_letter, held, re_referral, step_up
from tests.integration.helpers import eventually

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def backend() -> str:
    return "embedded"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium package (.ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    shot(page, "login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_an_operator_follows_hannahs_step_up_from_the_dashboard_to_its_trace_and_her_child_view(
        console_hub, page):
    tracking_id = step_up(console_hub)
    sign_in(page, console_hub.url, "olive")

    expect(page.locator("#board")).to_contain_text("referral-to-social-care")
    shot(page, "dashboard")
    page.locator("#board").get_by_role("link", name="caf-national").first.click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    shot(page, "messages")
    page.get_by_role("link", name=tracking_id).click()
    expect(page.get_by_role("heading", name="Message trace")).to_be_visible()
    focus = page.locator(f"#m-{tracking_id}")
    expect(focus).to_contain_text("referral-to-social-care from caf-national")
    expect(focus.locator(".tag.permit").first).to_be_visible()
    expect(focus).to_contain_text("lcs")
    assert "Hannah" not in page.content()
    shot(page, "trace")
    page.get_by_role("button", name="Reveal personal data (audited)").click()
    expect(page.locator("td", has_text="Hannah").first).to_be_visible()
    shot(page, "trace-revealed")

    page.get_by_role("link", name="Child view").click()
    page.get_by_label("child identifier").fill(HANNAH)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("table.timeline")).to_contain_text("referral from caf-national opened")
    expect(page.get_by_role("heading", name="Disclosures: who received what, when, why")).to_be_visible()
    shot(page, "child")

    page.get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Verify the chain now").click()
    expect(page.get_by_role("status")).to_contain_text("Audit chain intact")
    shot(page, "audit")
    page.get_by_role("link", name="Mappings").click()
    expect(page.get_by_role("heading", name="Try a message")).to_be_visible()
    shot(page, "mappings")


def test_the_dashboard_refreshes_itself(console_hub, page):
    sign_in(page, console_hub.url, "rory")
    expect(page.locator("#board")).to_contain_text("no messages in this window")

    step_up(console_hub)

    expect(page.locator("#board")).to_contain_text("referral-to-social-care", timeout=30_000)
    assert page.locator("#board").get_attribute("data-refreshed")


def test_an_operator_replays_a_dead_letter(console_hub, page):
    dead_letter_id = dead_letter(console_hub)
    sign_in(page, console_hub.url, "olive")

    page.get_by_role("link", name="Dead letters", exact=True).first.click()
    row = page.locator("tr", has_text="gave up after 3 attempts")
    expect(row).to_be_visible()
    shot(page, "dead-letters")
    row.get_by_role("link", name="inspect").click()
    expect(page.get_by_role("heading", name="Dead letter")).to_contain_text("Dead letter")
    assert dead_letter_id in page.content()
    shot(page, "dead-letter")
    page.get_by_role("button", name="Replay").click()

    expect(page.get_by_role("status")).to_contain_text("Queued again")
    eventually(lambda: console_hub.directory.updates(), what="the replayed delivery")


def test_a_dpo_withdraws_hannahs_consent_and_the_next_referral_is_refused(console_hub, page):
    step_up(console_hub)
    sign_in(page, console_hub.url, "dana")

    page.get_by_role("link", name="Consent").click()
    page.get_by_label("child identifier").fill(HANNAH)
    page.get_by_role("button", name="Show").click()
    row = page.locator("tr[data-consent]", has_text="referral-to-social-care")
    row.get_by_label("withdrawn by").select_option("child")
    row.get_by_label("reason").fill("Hannah asked that social care not be contacted again")
    shot(page, "consent")
    row.get_by_role("button", name="Withdraw").click()
    expect(page.locator("tr[data-consent]", has_text="referral-to-social-care").locator(".tag.deny")
           ).to_be_visible()

    later = re_referral(console_hub)
    status = held(console_hub, later)
    assert "no consent or legal gateway" in status["hold_reason"]
    page.goto(f"{console_hub.url}/console/messages/{later}")
    expect(page.locator(f"#m-{later}")).to_contain_text("no consent or legal gateway covers")
    shot(page, "trace-refused")


def test_a_read_only_user_can_neither_reveal_personal_data_nor_replay(console_hub, page):
    tracking_id = step_up(console_hub)
    dead_letter_id = dead_letter(console_hub)
    sign_in(page, console_hub.url, "rory")

    page.goto(f"{console_hub.url}/console/messages/{tracking_id}")
    expect(page.get_by_role("heading", name="Message trace")).to_be_visible()
    expect(page.get_by_role("button", name="Reveal personal data (audited)")).to_have_count(0)
    page.goto(f"{console_hub.url}/console/dead-letters/{dead_letter_id}")
    expect(page.get_by_role("button", name="Replay")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for path in (f"/console/messages/{tracking_id}/reveal", f"/console/dead-letters/{dead_letter_id}/replay"):
        reply = page.request.post(f"{console_hub.url}{path}", form={"csrf_token": token})
        assert reply.status == 403, path
        assert "Hannah" not in reply.text()
    shot(page, "read-only")
