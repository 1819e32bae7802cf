"""The client's side of the repair loop in real headless Chromium on a phone, in Chinese, with
JavaScript off: the sign-off link from the client's notice, "not satisfied" with a reason
(the ticket reopens), the record signed after the second repair, then the four-question
survey sent at closing. A real server process; links read from its notification outbox."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from peers.server import ServerProcess, add_user, provision
from server.db import make_engine
from server.notify.models import Notification
from tests.peers.browser import chromium, chromium_missing, screenshot
from wire.enums import Role

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/(?:sign|survey)/\S+")
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class World:
    server: ServerProcess
    url: str
    ticket_id: int
    headers: dict[str, str]
    browser: Browser
    shots: Path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method, self.server.base_url + path, json=body, headers=self.headers, timeout=10
        )
        assert response.status_code < 300, response.text
        return response.json()

    def resolve(self, actions: str) -> None:
        record = {"diagnosis": "door relay", "cause_class": "equipment", "actions": actions,
                  "time_on_site_minutes": 35}  # fmt: skip
        self.api("POST", f"/api/v1/tickets/{self.ticket_id}/resolve", record)

    def client_link(self, stage: str) -> str:
        """The link in the newest notice the client's channel got for `stage`."""
        engine = make_engine(self.url)
        try:
            with Session(engine) as session:
                body = session.scalars(
                    select(Notification.body)
                    .where(Notification.event == stage, Notification.contact == "client")
                    .order_by(Notification.id.desc())
                ).first()
        finally:
            engine.dispose()
        assert body is not None, f"no {stage} notice for the client"
        found = LINK.search(body)
        assert found is not None, body
        return found.group(0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("client-pages")
    url = f"sqlite:///{workdir / 'secmon.sqlite'}"
    notify = workdir / "notify.yaml"
    server = ServerProcess(
        url, workdir=workdir / "server", env={"SECMON_NOTIFY_CONFIG": str(notify)}
    )
    notify.write_text(
        yaml.safe_dump(
            {  # a channel nobody listens on: the notices stay readable in the outbox
                "contacts": {
                    "client": {"channels": {"sms": "json://127.0.0.1:9/x"}, "language": "zh-CN"}
                },
                "defaults": {"client_contacts": ["client"]},
                "public_url": server.base_url,  # the links lead back to this server
            }
        )
    )
    tenant = provision(url, client="Riverside Mall", timezone="Asia/Shanghai")
    add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER)
    server.start()
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    call = {"symptom": "东门门禁刷卡无反应", "reporter": "李女士", "reporter_contact": "139",
            "site_id": tenant.site_id}  # fmt: skip
    ticket = httpx.post(f"{server.base_url}/api/v1/tickets", json=call, headers=headers).json()
    try:
        with chromium() as browser:
            yield World(server, url, ticket["id"], headers, browser, workdir)
    finally:
        server.stop()


def _phone(world: World) -> Page:
    context = world.browser.new_context(
        locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        java_script_enabled=False,
    )  # fmt: skip
    return context.new_page()


def _fits(page: Page) -> None:
    box = page.locator("body").bounding_box()
    assert box is not None
    assert box["width"] <= PHONE["width"]


def test_sign_not_satisfied_reopens_then_sign_and_rate(world: World) -> None:
    tid = world.ticket_id
    eta = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    world.api("POST", f"/api/v1/tickets/{tid}/transitions", {"to": "dispatched", "eta": eta})
    world.api("POST", f"/api/v1/tickets/{tid}/transitions", {"to": "on_site"})
    world.resolve("reset the door relay")
    first = world.client_link("resolved")

    page = _phone(world)
    page.goto(first)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("维修记录")
    expect(page.locator("dl")).to_contain_text("reset the door relay")
    expect(page.locator("dl")).to_contain_text("东门门禁刷卡无反应")  # the call's symptom
    _fits(page)
    screenshot(page, world.shots, "client-sign-phone-zh")
    page.get_by_label("您的姓名").fill("李女士")
    page.get_by_label("不满意：问题仍未解决").check()  # noqa: RUF001
    page.get_by_role("button", name="签字确认").click()
    expect(page.get_by_role("alert")).to_have_text("请说明仍存在的问题。")  # server-side check
    page.get_by_label("仍存在的问题（不满意时必填）").fill("雨天仍然刷不开")  # noqa: RUF001
    page.get_by_role("button", name="签字确认").click()
    expect(page.get_by_role("status")).to_contain_text("我们已重新受理您的报修")
    assert world.api("GET", f"/api/v1/tickets/{tid}")["state"] == "reopened"

    page.goto(first)  # used: the link is dead
    expect(page.locator("main")).to_contain_text("此链接已失效")

    world.resolve("replaced the relay and sealed the reader")
    page.goto(world.client_link("resolved"))
    expect(page.locator(".note")).to_contain_text("reset the door relay")  # the earlier repair
    page.get_by_label("您的姓名").fill("李女士")
    page.get_by_label("维修已完成，我满意").check()  # noqa: RUF001
    page.get_by_role("button", name="签字确认").click()
    expect(page.get_by_role("status")).to_contain_text("维修记录已签字确认")

    page.goto(world.client_link("closed"))
    expect(page.get_by_role("heading", level=1)).to_have_text("服务满意度调查")
    legends = page.locator("legend")
    expect(legends).to_have_text(["服务响应时间", "维修质量", "服务态度", "解决问题能力"])
    _fits(page)
    for legend, score in [("服务响应时间", "5 很好"), ("维修质量", "4 好"), ("服务态度", "5 很好"),
                          ("解决问题能力", "4 好")]:  # fmt: skip
        page.get_by_role("group", name=legend).get_by_label(score).check()
    page.get_by_label("其他意见或建议").fill("响应很快")
    screenshot(page, world.shots, "client-survey-phone-zh")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("status")).to_have_text("感谢您的评价。")
    page.context.close()

    detail = world.api("GET", f"/api/v1/tickets/{tid}")
    assert detail["state"] == "closed"
    assert [v["client_satisfied"] for v in detail["repair_versions"]] == [False, True]
    assert detail["repair_versions"][0]["client_comment"] == "雨天仍然刷不开"
    survey = detail["survey"]
    assert (survey["response_time"], survey["repair_quality"], survey["attitude"],
            survey["problem_solving"], survey["rating"]) == (5, 4, 5, 4, 5)  # fmt: skip
    log = world.server.log_path.read_text(errors="replace")
    assert "/sign/[redacted]" in log
    assert "sgn_" not in log
    assert "sms_" not in log
