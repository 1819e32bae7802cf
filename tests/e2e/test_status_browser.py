"""The status page in real headless Chromium: a real agent polls TCP devices, a real server
detects the outage, and the client's share link shows it in plain words, then the recovery."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from peers.server import ServerProcess, Tenant, add_user, provision
from peers.site import AgentProcess, Site
from tests.peers.browser import chromium, chromium_missing, screenshot
from wire.enums import Role

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]
PASSWORD = "correct horse battery staple"
IPV4 = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")
FAST = {"SECMON_FAULT_SWEEP_SECONDS": "1", "SECMON_STATUS_ROLLUP_SECONDS": "1"}


@dataclass
class World:
    server: ServerProcess
    tenant: Tenant
    site: Site
    agent: AgentProcess
    link: str
    browser: Browser
    shots: Path

    def shot(self, page: Page, name: str) -> None:
        screenshot(page, self.shots, name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("status-browser")
    url = f"sqlite:///{workdir / 'secmon.sqlite'}"
    server = ServerProcess(url, workdir=workdir / "server", env=FAST)
    tenant = provision(url, client="Riverside Mall")
    add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER)
    server.start()
    site = Site.make(workdir / "site", n_up=3, n_down=0)
    agent = AgentProcess(site.write_config(server_url=server.base_url, token=tenant.token)).start()
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}
    ).json()["access_token"]
    response = httpx.post(
        f"{server.base_url}/api/v1/clients/{tenant.client_id}/status-link",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    link = server.base_url + response.json()["path"]
    try:
        with chromium() as browser:
            yield World(server, tenant, site, agent, link, browser, workdir)
    finally:
        agent.stop()
        site.close()
        server.stop()


def _reload_until(page: Page, text: str, timeout_s: float = 90) -> None:
    """The page is server-rendered: reload until the text shows, as a client would."""
    deadline = timeout_s * 1000
    waited = 0
    while page.get_by_text(text).count() == 0:
        assert waited < deadline, f"{text!r} not on the page after {timeout_s} s"
        page.wait_for_timeout(1000)
        waited += 1000
        page.reload()


def test_outage_and_recovery_show_on_the_shared_page(world: World) -> None:
    context = world.browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(world.link)
    _reload_until(page, "All systems working")
    expect(page.locator("main")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Riverside Mall")

    world.site.up.pop("cam-01").close()  # the camera's service port goes dark
    _reload_until(page, "1 camera not working since")
    expect(page.locator(".banner")).to_have_text("Some equipment is not working")
    incidents = page.locator("section.incidents li.open")
    expect(incidents.first).to_contain_text("Camera cam-01: not responding")
    expect(incidents.first).to_contain_text("Reported to the service team")
    html = page.content()
    assert not IPV4.search(page.inner_text("body"))
    assert "127.0.0.1" not in html
    bars = page.locator("ol.bars li")
    assert bars.count() == 90
    assert all(label for label in bars.evaluate_all("els => els.map(e => e.ariaLabel)"))
    world.shot(page, "status-page")
    context.close()


def test_phone_viewport_and_language_switch(world: World) -> None:
    context = world.browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.goto(world.link)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=2).first).to_have_text("站点")
    # Nothing wider than the phone's screen.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    # A tap on a day's bar shows its figure.
    bar = page.locator("ol.bars li:visible").last
    bar.tap()
    expect(bar).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert "%" in (bar.get_attribute("aria-label") or "") or "无数据" in (
        bar.get_attribute("aria-label") or ""
    )
    world.shot(page, "status-page-phone-zh")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(world.link)  # the choice sticks (cookie) over the browser's zh-CN
    expect(page.locator("html")).to_have_attribute("lang", "en")
    context.close()


def test_page_reads_without_javascript(world: World) -> None:
    context = world.browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(world.link)
    expect(page.locator("ol.bars").first).to_be_visible()
    expect(page.locator(".banner")).to_be_visible()
    context.close()
