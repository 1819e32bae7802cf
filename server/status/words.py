"""What the status page says, in English and Simplified Chinese: plain words, no jargon.

A dict catalogue rather than gettext: two languages, no build step, and the tests can check
that every key exists in both.
"""

import re
from collections.abc import Mapping
from datetime import date, datetime, tzinfo

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"

CATALOG: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Service status",
        "all_ok": "All systems working",
        "some_down": "Some equipment is not working",
        "site_unknown": (
            "No data from this site since {since}: the on-site monitoring unit is offline"
        ),
        "subsystem_ok": "Working",
        "subsystem_down": "{count} {noun} not working since {since}",
        "subsystem_unknown": "No data",
        "subsystem_empty": "Not monitored",
        "subsystem_unmonitored": "{count} {noun}: answering, but health not checked",
        "site_summary_unmonitored": "Some equipment answers, but its health is not checked",
        "uptime_30": "30 days",
        "uptime_90": "90 days",
        "no_data": "no data",
        "of_time_no_data": "{share} of the time without data",
        "day_label": "{day}: {figure}",
        "day_incidents": "{count} incident(s)",
        "day_maintenance": "planned maintenance",
        "incidents": "Incidents",
        "no_incidents": "No incidents in the last 14 days.",
        "maintenance": "Planned maintenance",
        "no_maintenance": "No planned maintenance.",
        "contact": "Maintenance contact",
        "updated": "Updated {at}",
        "language": "Language",
        "legend": "Daily availability",
        "legend_good": "≥ 99.9 %",
        "legend_minor": "≥ 99 %",
        "legend_major": "≥ 95 %",
        "legend_bad": "< 95 %",
        "legend_unknown": "mostly without data",
        "legend_nodata": "not monitored",
        "sites": "Sites",
        "opened": "Reported {at}",
        "resolved_at": "Repaired {at}",
        "state.new": "Reported to the service team",
        "state.reopened": "Reported again to the service team",
        "state.acknowledged": "The service team is on it",
        "state.dispatched": "Technician on the way",
        "state.dispatched_eta": "Technician on the way, expected {eta}",
        "state.on_site": "Technician on site",
        "state.recovered": "Working again, awaiting confirmation",
        "state.resolved": "Repaired",
        "state.closed": "Repaired and confirmed",
        "state.cancelled": "Closed",
        "state.still_down": "Still not working; the service team is following up",
        "sla.met": "answered in time",
        "sla.late": "answered late",
        "sla.due": "answer due by {at}",
        "subsystem.video": "Video surveillance",
        "subsystem.alarm": "Intrusion alarm",
        "subsystem.access": "Access control",
        "subsystem.power": "Power",
        "subsystem.network": "Network",
        "noun.camera": "camera|cameras",
        "noun.nvr": "recorder|recorders",
        "noun.dvr": "recorder|recorders",
        "noun.alarm_panel": "alarm panel|alarm panels",
        "noun.access_controller": "door controller|door controllers",
        "noun.ups": "UPS|UPSes",
        "noun.switch": "network switch|network switches",
        "noun.gateway": "gateway|gateways",
        "noun.sensor": "sensor|sensors",
        "noun.other": "device|devices",
        "problem.unreachable": "not responding",
        "problem.other": "not working properly",
        "site_summary_ok": "All systems working",
        "site_summary_down": "{count} of {total} devices not working",
        "phone": "Phone",
        "email": "Email",
        "hours": "Hours",
        "share_note": "This page is shared by link. It shows no addresses or serial numbers.",
        "reports": "Inspection records and maintenance reports",
        "then": "{first}, {second}",
        "range": "{start} \u2013 {end}",
        "code.device.unreachable": "not responding",
        "code.device.auth_failed": "refuses the monitoring login",
        "code.camera.stream_down": "video stream not available",
        "code.camera.video_loss": "video signal lost",
        "code.camera.tamper": "camera tampered with or moved",
        "code.camera.image_abnormal": "picture abnormal",
        "code.camera.clock_drift": "clock is wrong",
        "code.storage.disk_failed": "recording disk failed",
        "code.storage.recording_stopped": "recording stopped",
        "code.power.ac_lost": "mains power lost",
        "code.power.battery_low": "battery low",
        "code.alarm.panel_offline": "alarm panel offline",
        "code.alarm.zone_fault": "alarm zone fault",
        "code.access.controller_offline": "door controller offline",
        "code.access.reader_fault": "card reader fault",
        "code.alarm.comms_lost": "alarm line to the monitoring centre lost",
        "code.device.tamper": "housing opened or tampered with",
        "code.power.supply_failed": "power supply failed",
        "code.device.fan_failed": "cooling fan failed",
        "code.network.port_down": "network port down",
        "code.env.temperature_high": "temperature too high",
        "code.env.contact_abnormal": "door or alarm contact in alarm",
        "code.env.smoke_alarm": "smoke detector in alarm",
        "code.env.flood_alarm": "water leak detected",
        "code.power.input_lost": "one of its power inputs lost",
        "code.site.agent_offline": "on-site monitoring unit offline",
        "code.site.system_paralysed": "many devices stopped at once",
        "code.other": "reported problem",
        "sign.title": "Repair record",
        "sign.intro": "Please read what was done and sign to confirm the repair.",
        "sign.request": "Request #{id}",
        "sign.problem": "Problem",
        "sign.diagnosis": "Diagnosis",
        "sign.actions": "What was done",
        "sign.parts": "Parts replaced",
        "sign.time": "Time on site",
        "sign.minutes": "{n} min",
        "sign.technician": "Technician",
        "sign.tech_signed": "signed {at}",
        "sign.previous": "Earlier repair on this request ({at}): {actions}",
        "sign.name": "Your name",
        "sign.satisfied": "The repair is done and I am satisfied",
        "sign.not_satisfied": "Not satisfied: the problem is not solved",
        "sign.reason": "What is still wrong (needed if not satisfied)",
        "sign.submit": "Sign",
        "sign.need_name": "Please give your name.",
        "sign.need_choice": "Please choose satisfied or not satisfied.",
        "sign.need_reason": "Please say what is still wrong.",
        "sign.done": "Thank you, {name}. The repair record is signed.",
        "sign.survey_next": "We will send you a short satisfaction survey.",
        "sign.reopened": "We have reopened your request and will be back in touch.",
        "link.invalid": (
            "This link is not valid any more: it was used, it expired, or the request has moved on."
        ),
        "survey.title": "How did we do?",
        "survey.intro": "Four short questions about request #{id}: {what}.",
        "survey.response_time": "Response time",
        "survey.repair_quality": "Repair quality",
        "survey.attitude": "Service attitude",
        "survey.problem_solving": "Problem solving",
        "survey.comment": "Anything else you want to tell us",
        "survey.submit": "Send",
        "survey.need_all": "Please rate all four.",
        "survey.done": "Thank you for your feedback.",
        "rating.1": "1 poor",
        "rating.2": "2 fair",
        "rating.3": "3 OK",
        "rating.4": "4 good",
        "rating.5": "5 very good",
    },
    "zh-CN": {
        "title": "服务状态",
        "all_ok": "所有系统运行正常",
        "some_down": "部分设备工作异常",
        "site_unknown": "自 {since} 起未收到该站点数据：现场监控单元离线",
        "subsystem_ok": "正常",
        "subsystem_down": "{count} 台{noun}自 {since} 起不工作",
        "subsystem_unknown": "无数据",
        "subsystem_empty": "未监控",
        "subsystem_unmonitored": "{count} 台{noun}在线，但健康状态未检测",
        "site_summary_unmonitored": "部分设备在线，但其健康状态未被检测",
        "uptime_30": "30 天",
        "uptime_90": "90 天",
        "no_data": "无数据",
        "of_time_no_data": "{share} 的时间无数据",
        "day_label": "{day}：{figure}",
        "day_incidents": "{count} 起故障",
        "day_maintenance": "计划维护",
        "incidents": "故障",
        "no_incidents": "最近 14 天无故障。",
        "maintenance": "计划维护",
        "no_maintenance": "暂无计划维护。",
        "contact": "维保联系人",
        "updated": "更新于 {at}",
        "language": "语言",
        "legend": "每日可用率",
        "legend_good": "≥ 99.9 %",
        "legend_minor": "≥ 99 %",
        "legend_major": "≥ 95 %",
        "legend_bad": "< 95 %",
        "legend_unknown": "大部分时间无数据",
        "legend_nodata": "未监控",
        "sites": "站点",
        "opened": "报修于 {at}",
        "resolved_at": "修复于 {at}",
        "state.new": "已通知维保团队",
        "state.reopened": "已再次通知维保团队",
        "state.acknowledged": "维保团队已受理",
        "state.dispatched": "技术人员已出发",
        "state.dispatched_eta": "技术人员已出发，预计 {eta} 到达",
        "state.on_site": "技术人员已到场",
        "state.recovered": "已恢复，待确认",
        "state.resolved": "已修复",
        "state.closed": "已修复并确认",
        "state.cancelled": "已关闭",
        "state.still_down": "仍未恢复，维保团队正在跟进",
        "sla.met": "按时响应",
        "sla.late": "响应超时",
        "sla.due": "应于 {at} 前响应",
        "subsystem.video": "视频监控",
        "subsystem.alarm": "入侵报警",
        "subsystem.access": "出入口控制",
        "subsystem.power": "供电",
        "subsystem.network": "网络",
        "noun.camera": "摄像机|摄像机",
        "noun.nvr": "录像机|录像机",
        "noun.dvr": "录像机|录像机",
        "noun.alarm_panel": "报警主机|报警主机",
        "noun.access_controller": "门禁控制器|门禁控制器",
        "noun.ups": "UPS 电源|UPS 电源",
        "noun.switch": "交换机|交换机",
        "noun.gateway": "网关|网关",
        "noun.sensor": "探测器|探测器",
        "noun.other": "设备|设备",
        "problem.unreachable": "无响应",
        "problem.other": "工作异常",
        "site_summary_ok": "所有系统运行正常",
        "site_summary_down": "{total} 台设备中有 {count} 台不工作",
        "phone": "电话",
        "email": "邮箱",
        "hours": "服务时间",
        "share_note": "本页面通过链接分享，不显示地址或序列号。",
        "reports": "巡检记录与维护报告",
        "then": "{first}，{second}",
        "range": "{start} 至 {end}",
        "code.device.unreachable": "无响应",
        "code.device.auth_failed": "拒绝监控登录",
        "code.camera.stream_down": "视频流不可用",
        "code.camera.video_loss": "视频信号丢失",
        "code.camera.tamper": "摄像机被遮挡或移动",
        "code.camera.image_abnormal": "图像异常",
        "code.camera.clock_drift": "时钟不准",
        "code.storage.disk_failed": "录像硬盘故障",
        "code.storage.recording_stopped": "录像已停止",
        "code.power.ac_lost": "市电中断",
        "code.power.battery_low": "电池电量低",
        "code.alarm.panel_offline": "报警主机离线",
        "code.alarm.zone_fault": "防区故障",
        "code.access.controller_offline": "门禁控制器离线",
        "code.access.reader_fault": "读卡器故障",
        "code.alarm.comms_lost": "报警主机与接警中心通信中断",
        "code.device.tamper": "设备外壳被打开或遭破坏",
        "code.power.supply_failed": "电源故障",
        "code.device.fan_failed": "散热风扇故障",
        "code.network.port_down": "网络端口断开",
        "code.env.temperature_high": "温度过高",
        "code.env.contact_abnormal": "门磁或报警触点告警",
        "code.env.smoke_alarm": "烟雾探测器告警",
        "code.env.flood_alarm": "检测到漏水",
        "code.power.input_lost": "一路电源输入丢失",
        "code.site.agent_offline": "现场监控单元离线",
        "code.site.system_paralysed": "大量设备同时停止工作",
        "code.other": "报修问题",
        "sign.title": "维修记录",
        "sign.intro": "请阅读维修内容，并签字确认维修结果。",
        "sign.request": "报修 #{id}",
        "sign.problem": "故障",
        "sign.diagnosis": "故障诊断",
        "sign.actions": "维修措施",
        "sign.parts": "更换部件",
        "sign.time": "现场维修时长",
        "sign.minutes": "{n} 分钟",
        "sign.technician": "维修人员",
        "sign.tech_signed": "签字于 {at}",
        "sign.previous": "此前的维修（{at}）：{actions}",
        "sign.name": "您的姓名",
        "sign.satisfied": "维修已完成，我满意",
        "sign.not_satisfied": "不满意：问题仍未解决",
        "sign.reason": "仍存在的问题（不满意时必填）",
        "sign.submit": "签字确认",
        "sign.need_name": "请填写您的姓名。",
        "sign.need_choice": "请选择满意或不满意。",
        "sign.need_reason": "请说明仍存在的问题。",
        "sign.done": "谢谢，{name}。维修记录已签字确认。",
        "sign.survey_next": "我们将发送一份简短的满意度调查。",
        "sign.reopened": "我们已重新受理您的报修，会尽快与您联系。",
        "link.invalid": "此链接已失效：已被使用、已过期，或报修已有新进展。",
        "survey.title": "服务满意度调查",
        "survey.intro": "关于报修 #{id}（{what}）的四个问题。",
        "survey.response_time": "服务响应时间",
        "survey.repair_quality": "维修质量",
        "survey.attitude": "服务态度",
        "survey.problem_solving": "解决问题能力",
        "survey.comment": "其他意见或建议",
        "survey.submit": "提交",
        "survey.need_all": "请为四项都打分。",
        "survey.done": "感谢您的评价。",
        "rating.1": "1 很差",
        "rating.2": "2 较差",
        "rating.3": "3 一般",
        "rating.4": "4 好",
        "rating.5": "5 很好",
    },
}


def pick_language(*, query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The explicit choice first, then the cookie, then the browser's preference."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    ranked: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, tag.strip().lower()))
    for _quality, tag in sorted(ranked, key=lambda item: -item[0]):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


class Words:
    """One language's catalogue with the few formatting rules the page needs."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._catalog = CATALOG[self.language]

    def __call__(self, key: str, **values: object) -> str:
        return self._catalog[key].format(**values)

    def template(self, key: str) -> str:
        """The raw phrase with its {placeholders}, for callers formatting it many times."""
        return self._catalog[key]

    def problem(self, code: str | None) -> str:
        key = f"code.{code}"
        return self._catalog[key] if key in self._catalog else self._catalog["code.other"]

    def what(self, code: str | None, symptom: str, device_name: str | None) -> str:
        """A ticket's problem for the client: a known fault in plain words, else the symptom as
        reported (a desk call), with the device's public name."""
        key = f"code.{code}"
        problem = self._catalog.get(key, symptom)
        return f"{public_name(device_name)}: {problem}" if device_name else problem

    def noun(self, device_class: str, count: int) -> str:
        forms = self._catalog.get(f"noun.{device_class}", self._catalog["noun.other"])
        one, many = forms.split("|")
        return one if count == 1 else many

    def percent(self, share: float | None) -> str:
        if share is None:
            return self("no_data")
        # Never round 99.996 % up to 100 %: a day with an outage must not read as perfect.
        text = f"{int(share * 10000) / 100:.2f}"
        return f"{text} %"

    def moment(self, at: datetime, zone: tzinfo, now: datetime) -> str:
        local, today = at.astimezone(zone), now.astimezone(zone)
        if local.date() == today.date():
            return local.strftime("%H:%M")
        if self.language == "zh-CN":
            return f"{local.month}月{local.day}日 {local:%H:%M}"
        return f"{local:%b} {local.day} {local:%H:%M}"

    def day(self, at: date) -> str:
        if self.language == "zh-CN":
            return f"{at.month}月{at.day}日"
        return f"{at:%b} {at.day}"


_IP_OR_MAC = re.compile(
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b"  # IPv4
    r"|\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b"  # MAC
    r"|\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b",  # IPv6-looking
    re.IGNORECASE,
)


def public_name(name: str) -> str:
    """A device name fit for the client's page: installers often put addresses in names."""
    cleaned = _IP_OR_MAC.sub("…", name).strip(" -_:/")
    return cleaned or "…"
