"""The service console in real headless Chromium: a real agent, a real server. A camera goes
dark, its ticket appears on the queue, a manager works it to resolved on a phone-sized screen,
and the client's status page follows. Also: roles, CSRF, login limits."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from peers.server import ServerProcess, Tenant, add_user, provision
from peers.site import AgentProcess, Listener, Site
from tests.e2e.test_status_browser import FAST
from tests.peers.browser import chromium, chromium_missing, screenshot
from wire.enums import Role

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    server: ServerProcess
    tenant: Tenant
    other: Tenant
    site: Site
    agent: AgentProcess
    browser: Browser
    shots: Path

    def login(self, username: str, **context_args: object) -> tuple[BrowserContext, Page]:
        context = self.browser.new_context(**context_args)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(f"{self.server.base_url}/console/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        return context, page

    def shot(self, page: Page, name: str) -> None:
        screenshot(page, self.shots, name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{workdir / 'secmon.sqlite'}"
    server = ServerProcess(url, workdir=workdir / "server", env=FAST)
    tenant = provision(url, client="Riverside Mall")
    other = provision(url, client="Harbour Bank", site="vault", devices=["cam-x"])
    add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER)
    add_user(url, username="tech", password=PASSWORD, role=Role.TECHNICIAN)
    add_user(url, username="mall", password=PASSWORD, role=Role.CLIENT, client_id=tenant.client_id)
    server.start()
    site = Site.make(workdir / "site", n_up=3, n_down=0)
    agent = AgentProcess(site.write_config(server_url=server.base_url, token=tenant.token)).start()
    try:
        with chromium() as browser:
            yield World(server, tenant, other, site, agent, browser, workdir)
    finally:
        agent.stop()
        site.close()
        server.stop()


def _reload_until(page: Page, locator: str, timeout_s: float = 90) -> None:
    waited = 0.0
    while page.locator(locator).count() == 0:
        assert waited < timeout_s, f"{locator!r} not on {page.url} after {timeout_s} s"
        page.wait_for_timeout(1000)
        waited += 1
        page.reload()


def test_fault_worked_from_queue_to_resolved_on_a_phone(world: World) -> None:
    context, page = world.login(
        "boss", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open tickets")
    port = world.site.up["cam-01"].port
    world.site.up.pop("cam-01").close()
    _reload_until(page, "table.queue tr[data-ticket]")
    row = page.locator("table.queue tr[data-ticket]").first
    expect(row).to_contain_text("hq")
    expect(row).to_contain_text("new")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    world.shot(page, "console-queue-phone")
    row.get_by_role("link").click()
    expect(page.locator("#state")).to_have_text("new")

    page.get_by_role("button", name="Acknowledge").tap()
    expect(page.locator("#state")).to_have_text("acknowledged")
    eta = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("ETA").fill(eta)
    page.get_by_role("button", name="Dispatch").tap()
    expect(page.locator("#state")).to_have_text("dispatched")
    page.get_by_role("button", name="On site").tap()
    expect(page.locator("#state")).to_have_text("on_site")
    # Resolve while the camera is still dark: refused, monitoring still sees the fault.
    resolve = page.locator("form:has(input[name=action][value=resolve])")
    resolve.get_by_label("Diagnosis").fill("PoE port dead on the switch")
    page.get_by_label("Actions taken").fill("Moved the camera to port 7")
    page.get_by_role("button", name="Resolve").tap()
    expect(page.get_by_role("alert")).to_contain_text("still open")
    expect(page.locator("#state")).to_have_text("on_site")
    # The camera works again (the repair); monitoring confirms it, then the resolve goes in.
    world.site.up["cam-01"] = Listener(port)
    _reload_until(page, "td:text-is('recovered')")
    resolve.get_by_label("Diagnosis").fill("PoE port dead on the switch")
    page.get_by_label("Actions taken").fill("Moved the camera to port 7")
    page.get_by_label("Minutes on site").fill("25")
    page.get_by_role("button", name="Resolve").tap()
    expect(page.locator("#state")).to_have_text("resolved")
    history = page.locator("table").first
    expect(history).to_contain_text("boss")
    expect(history).to_contain_text("on_site → resolved")

    # The client's page stops saying it is broken.
    mall, status = world.login("mall")
    expect(status.locator("html")).to_have_attribute("lang", re.compile("en|zh-CN"))
    status.goto(f"{world.server.base_url}/console/status?lang=en")
    for _ in range(90):
        if status.get_by_text("All systems working").count():
            break
        status.wait_for_timeout(1000)
        status.reload()
    expect(status.locator(".banner")).to_have_text("All systems working")
    expect(status.locator("section.incidents")).to_contain_text("Camera cam-01")
    mall.close()
    context.close()


def test_desktop_queue_screenshot_with_filters(world: World) -> None:
    context, page = world.login("boss", viewport={"width": 1280, "height": 800})
    world.site.up.pop("cam-02").close()
    _reload_until(page, "table.queue tr[data-ticket]:has-text('cam-02')")
    world.shot(page, "console-queue")
    page.get_by_label("Severity").select_option("general")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"severity=general"))
    # cam-01's ticket is resolved (waiting for the client): not open work any more.
    expect(page.locator("table.queue tr[data-ticket]")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open tickets (1)")
    page.get_by_label("State").select_option("resolved")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.queue tr[data-ticket]")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Resolved tickets (1)")
    page.get_by_label("State").select_option("")
    page.get_by_label("Severity").select_option("emergency")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.queue")).to_contain_text("No tickets match these filters")
    # Agent health: the site's agent reports its version and outbox (heartbeat).
    page.get_by_role("link", name="Sites & agents").click()
    hq = page.locator("tbody tr", has_text="hq")
    expect(hq.locator("td.agent-backlog")).to_contain_text("queued")
    expect(hq).not_to_contain_text("(silent)")
    # The other client's site has no agent running: shown as never seen, silent.
    expect(page.locator("tbody tr", has_text="vault")).to_contain_text("never (silent)")
    context.close()


def test_roles_and_other_clients_are_kept_out(world: World) -> None:
    base = world.server.base_url
    mall, page = world.login("mall")
    expect(page).to_have_url(re.compile(r"/console/status"))
    assert "Harbour Bank" not in page.content()
    for path in ("/console", "/console/tickets/1", "/console/sites", "/console/kpis"):
        response = page.goto(base + path)
        assert response is not None
        assert response.status == 403, path
    # A client cannot ask for another client's status page by id.
    page.goto(f"{base}/console/status?client_id={world.other.client_id}")
    assert "Harbour Bank" not in page.content()
    mall.close()

    tech, page = world.login("tech")
    # A technician without a team sees no sites and no tickets, and no KPI scorecards; the
    # queue says why it is empty.
    expect(page.get_by_role("status")).to_contain_text("You are not on any team yet")
    expect(page.locator("table.queue")).to_contain_text("Nothing is assigned to you")
    response = page.goto(f"{base}/console/sites/{world.tenant.site_id}")
    assert response is not None
    assert response.status == 404
    response = page.goto(f"{base}/console/kpis")
    assert response is not None
    assert response.status == 403
    tech.close()


def test_forms_need_the_session_csrf_token_and_logins_are_limited(world: World) -> None:
    base = world.server.base_url
    with httpx.Client(base_url=base) as browser:
        form = browser.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        ok = browser.post(
            "/console/login",
            data={"username": "boss", "password": PASSWORD, "csrf": token[1], "next": ""},
        )
        assert ok.status_code == 303
        forged = browser.post("/console/tickets/1", data={"action": "cancel", "note": "x"})
        assert forged.status_code == 400
        assert "Form expired" in forged.text
        # and nothing changed: the ticket is not cancelled
        assert "cancelled" not in browser.get("/console/tickets/1").text.split("History")[0]
    # An open redirect after login is refused.
    with httpx.Client(base_url=base) as browser:
        form = browser.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        response = browser.post(
            "/console/login",
            data={"username": "boss", "password": PASSWORD, "csrf": token[1],
                  "next": "//evil.example/"},
        )  # fmt: skip
        assert response.headers["location"] == "/console"
    with httpx.Client(base_url=base) as attacker:
        statuses = []
        for _ in range(7):
            form = attacker.get("/console/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            statuses.append(
                attacker.post(
                    "/console/login",
                    data={"username": "tech", "password": "guess", "csrf": token[1]},
                ).status_code
            )
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429, 429]
