"""What the client's own contacts read: plain words in their language (en or zh-CN), no
internal states or clock names. Pure.

The seeds ask the service side to tell the client the technician's name, contact and ETA at
dispatch (003 「告知客戶維修人員的姓名、聯系方式和預計到達時間」), to warn before a
deadline slips (003 「如因特殊原因無法按時完成,提前與客戶溝通并說明情況」), to have the
record signed (000 「由客戶簽字確認」) and to ask about satisfaction (000 「詢問客戶對維修服務
是否滿意」).
"""

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

CLIENT_LANGUAGES = ("en", "zh-CN")

_WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ticket": "Your repair request #{id}: {title}",
        "site": "Site: {site}",
        "acknowledged": "We have received your request and are working on it.",
        "dispatched": "A technician is on the way.",
        "technician": "Technician: {name}",
        "phone": "Phone: {phone}",
        "email": "Email: {email}",
        "service_contact": "Service contact: {name}",
        "eta": "Expected on site: {at}",
        "resolved": "The repair is done. Please read the repair record and sign it, or tell us"
        " what is still wrong:",
        "closed": "Thank you. Please tell us how we did (four short questions):",
        "near_breach": "We may not make the time we promised ({clock} by {at}). We are on it"
        " and will keep you informed.",
        "clock.respond": "answer",
        "clock.on_site": "arrival on site",
        "clock.resolve": "repair",
        "opened": "We have registered your repair request.",
        "reopened": "We have reopened your repair request.",
        "link_note": "The link works once, and only for a limited time.",
    },
    "zh-CN": {
        "ticket": "您的报修 #{id}：{title}",
        "site": "站点：{site}",
        "acknowledged": "我们已收到您的报修，正在处理。",
        "dispatched": "维修人员已出发。",
        "technician": "维修人员：{name}",
        "phone": "电话：{phone}",
        "email": "邮箱：{email}",
        "service_contact": "维保联系人：{name}",
        "eta": "预计到达：{at}",
        "resolved": "维修已完成。请查看维修记录并签字确认，或告诉我们仍有什么问题：",
        "closed": "感谢您的确认。请花一分钟评价本次服务（四个问题）：",
        "near_breach": "我们可能无法在承诺时间内完成{clock}（{at}）。我们正在加紧处理，"
        "并会及时告知进展。",
        "clock.respond": "响应",
        "clock.on_site": "到场",
        "clock.resolve": "修复",
        "opened": "我们已登记您的报修。",
        "reopened": "我们已重新受理您的报修。",
        "link_note": "此链接仅可使用一次，且有有效期。",
    },
}


def client_message(
    *,
    language: str,
    stage: str,
    ticket_id: int,
    title: str,
    site: str,
    timezone: str,
    technician: str | None = None,
    contact: Mapping[str, str] | None = None,
    eta: datetime | None = None,
    deadline: datetime | None = None,
    link: str = "",
) -> tuple[str, str]:
    """Title and body of one notice to the client for `stage` (`near_breach:<clock>` etc.)."""
    words = _WORDS[language if language in _WORDS else "en"]
    zone = ZoneInfo(timezone)
    kind, _, clock = stage.partition(":")
    head = words["ticket"].format(id=ticket_id, title=title)
    lines = [head, words["site"].format(site=site)]
    if kind == "near_breach" and deadline is not None:
        at = deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        what = words.get(f"clock.{clock}", clock)
        lines.append(words["near_breach"].format(clock=what, at=at))
    elif kind in words:
        lines.append(words[kind])
    if kind == "dispatched":
        if technician:
            lines.append(words["technician"].format(name=technician))
        card = contact or {}
        if card.get("name"):
            lines.append(words["service_contact"].format(name=card["name"]))
        if card.get("phone"):
            lines.append(words["phone"].format(phone=card["phone"]))
        if card.get("email"):
            lines.append(words["email"].format(email=card["email"]))
        if eta is not None:
            lines.append(words["eta"].format(at=eta.astimezone(zone).strftime("%Y-%m-%d %H:%M")))
    if link:
        lines += [link, words["link_note"]]
    return head[:250], "\n".join(lines)
