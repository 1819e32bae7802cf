"""Cycle periods in the site's calendar and the rows a site's devices get."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from server.inspections.plan import SITE, DeviceRef, current_period, period_of, plan_rows
from server.inspections.template import Cycle, shipped_template

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_periods_start_on_the_first_day_of_the_cycle() -> None:
    assert period_of(Cycle.MONTHLY, date(2026, 12, 31)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert period_of(Cycle.QUARTERLY, date(2026, 11, 5)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert period_of(Cycle.QUARTERLY, date(2026, 3, 31)) == (date(2026, 1, 1), date(2026, 4, 1))
    # 2026-12-10 is a Thursday
    assert period_of(Cycle.WEEKLY, date(2026, 12, 10)) == (date(2026, 12, 7), date(2026, 12, 14))


def test_month_begins_at_local_midnight_of_the_site() -> None:
    # 2026-11-30 17:00 UTC is already 2026-12-01 01:00 in Shanghai: December's inspection.
    period = current_period(shipped_template(), SHANGHAI, datetime(2026, 11, 30, 17, tzinfo=UTC))
    assert period.start == date(2026, 12, 1)
    assert period.starts_at == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert period.ends_at == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert period.due_at == datetime(2026, 12, 10, 16, tzinfo=UTC)  # due_days 10


def test_rows_are_one_per_applicable_device_and_item_plus_site_items() -> None:
    template = shipped_template()
    devices = [
        DeviceRef(1, "cam-b", "camera"),
        DeviceRef(2, "cam-a", "camera"),
        DeviceRef(3, "nvr-1", "nvr"),
        DeviceRef(4, "ups-1", "ups"),
        DeviceRef(5, "gw-1", "gateway"),  # no item names gateways
    ]
    rows = plan_rows(template, devices)
    by_item: dict[str, list[str]] = {}
    for row in rows:
        by_item.setdefault(row.item.id, []).append(row.device.name if row.device else SITE)
    camera_items = [i.id for i in template.items if "camera" in i.classes]
    site_items = [i.id for i in template.items if not i.classes]
    for item_id in camera_items:
        assert by_item[item_id] == ["cam-a", "cam-b"]
    for item_id in site_items:
        assert by_item[item_id] == [SITE]
    assert by_item["central.power"] == ["ups-1"]
    assert by_item["central.recording"] == ["nvr-1"]
    assert "frontend.detectors" not in by_item  # no alarm panel on this site
    assert "gw-1" not in {name for names in by_item.values() for name in names}
    nvr_items = [i.id for i in template.items if "nvr" in i.classes]
    ups_items = [i.id for i in template.items if "ups" in i.classes]
    assert len(rows) == 2 * len(camera_items) + len(nvr_items) + len(ups_items) + len(site_items)
