"""Escalation decisions, rotas, round-robin and the notify config: pure, with hypothesis."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.notify.config import (
    NotifyConfig,
    NotifyConfigError,
    Role,
    load_notify_config,
    parse_notify_config,
)
from server.notify.escalation import TicketEvent, TicketFacts, decide, reroutes
from server.notify.rota import OnCallRota, RotaOverride, choose_assignee, next_in_rotation
from server.sla import (
    PRESETS,
    BusinessCalendar,
    SlaClock,
    clock_state,
    load_holiday_file,
    ticket_clocks,
)

CALENDAR = BusinessCalendar.office("Asia/Shanghai", holidays=load_holiday_file("cn-2026"))
ROTA_START = date(2026, 1, 5)  # a Monday


def config_data() -> dict[str, Any]:
    contact = {"channels": {"hook": "json://127.0.0.1:9/x"}}
    return {
        "contacts": dict.fromkeys(["alice", "bob", "oscar", "mia", "dan", "cli"], contact),
        "teams": {
            "north": {
                "members": ["alice", "bob"],
                "sites": [10],
                "rota": {"members": ["oscar", "bob"], "start": ROTA_START.isoformat()},
            }
        },
        "clients": {7: {"managers": ["mia"], "directors": ["dan"], "client_contacts": ["cli"]}},
    }


CONFIG = parse_notify_config(config_data())
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # oscar's week


def facts(severity: str = "general", now: datetime = MONDAY_10, **kw: Any) -> TicketFacts:
    started = kw.pop("started", MONDAY_10)
    clocks = ticket_clocks(PRESETS["ring_road"], severity, "ring_1", started, CALENDAR, now)
    base: dict[str, Any] = {
        "ticket_id": 42,
        "client_id": 7,
        "site_id": 10,
        "severity": severity,
        "title": "nvr-1: storage.recording_stopped",
        "assignee": "alice",
        "clocks": {c: clocks.state(c) for c in SlaClock},
    }
    base.update(kw)
    return TicketFacts(**base)


def stage_contacts(intents: list[Any]) -> set[tuple[str, str]]:
    return {(i.event, i.contact) for i in intents}


def test_general_open_reaches_the_technician_and_emergency_the_whole_chain() -> None:
    general = decide(facts(), "opened", CONFIG, MONDAY_10)
    # 004/A 「必须立即向部门负责人汇报」: the department head hears of every fault at once.
    assert stage_contacts(general) == {("opened", "alice"), ("opened", "mia")}
    emergency = decide(facts("emergency"), "opened", CONFIG, MONDAY_10)
    assert stage_contacts(emergency) == {
        ("opened", "alice"),
        ("opened", "oscar"),
        ("opened", "mia"),
    }
    assert all(i.title.startswith("[EMERGENCY] New ticket: #42") for i in emergency)


def test_unassigned_ticket_goes_to_the_on_call_member_once() -> None:
    intents = decide(facts("emergency", assignee=None), "opened", CONFIG, MONDAY_10)
    assert [i.contact for i in intents] == ["oscar", "mia"]
    assert "as: technician" in intents[0].body


def test_near_breach_then_breach_then_long_breach() -> None:
    # General, ring_1: respond 2 h business from Monday 10:00 → due 12:00.
    near = decide(facts(now=MONDAY_10 + timedelta(minutes=100)), "tick", CONFIG, MONDAY_10)
    assert stage_contacts(near) == {
        (f"near_breach:{clock}", who)
        for clock in ("respond", "on_site")  # ring_1 general: on site also within 2 h
        for who in ("alice", "oscar", "cli")  # the client hears before the deadline slips
    }
    late = MONDAY_10 + timedelta(hours=2, minutes=1)
    breach = decide(facts(now=late), "tick", CONFIG, late)
    assert {e for e, _ in stage_contacts(breach)} >= {"breach:respond", "breach:on_site"}
    assert ("breach:respond", "mia") in stage_contacts(breach)
    later = MONDAY_10 + timedelta(hours=4, minutes=1)  # respond overdue by > 100 % of 2 h
    long = decide(facts(now=later), "tick", CONFIG, later)
    assert ("long_breach:respond", "dan") in stage_contacts(long)


def test_met_clocks_and_final_events_do_not_escalate() -> None:
    late = MONDAY_10 + timedelta(hours=3)
    acked = ticket_clocks(
        PRESETS["ring_road"],
        "general",
        "ring_1",
        MONDAY_10,
        CALENDAR,
        late,
        acknowledged_at=MONDAY_10 + timedelta(minutes=5),
    )
    f = facts(now=late, clocks={SlaClock.RESPOND: acked.respond})
    assert decide(f, "tick", CONFIG, late) == []
    resolved = decide(facts(now=late), "resolved", CONFIG, late)
    assert stage_contacts(resolved) == {("resolved", "cli")}
    assert decide(facts(now=late), "closed", CONFIG, late) == []


def diagnose_stages(at: timedelta, diagnosed: timedelta | None = None) -> set[tuple[str, str]]:
    """The diagnosis stages of an emergency ticket `at` after its clock start (001: diagnosis
    due within 1 h), the SLA clocks left out."""
    now = MONDAY_10 + at
    met = MONDAY_10 + diagnosed if diagnosed is not None else None
    clock = clock_state(MONDAY_10 + timedelta(hours=1), MONDAY_10, now, met_at=met)
    f = facts("emergency", now=now, clocks={}, diagnosis=clock)
    return stage_contacts(decide(f, "tick", CONFIG, now))


def test_emergency_diagnosis_deadline_escalates_until_the_diagnosis_is_recorded() -> None:
    # 001 「需在1小时内完成初步诊断」: near breach at 50 min to the technician and on-call (the
    # client is not told of tech support's internal step), breached after 1 h to the manager too.
    assert diagnose_stages(timedelta(minutes=40)) == set()
    assert diagnose_stages(timedelta(minutes=50)) == {
        ("near_breach:diagnose", "alice"),
        ("near_breach:diagnose", "oscar"),
    }
    assert diagnose_stages(timedelta(minutes=61)) == {
        ("breach:diagnose", "alice"),
        ("breach:diagnose", "oscar"),
        ("breach:diagnose", "mia"),
    }
    # A diagnosis recorded stops the clock: nothing, in time or late.
    assert diagnose_stages(timedelta(minutes=61), diagnosed=timedelta(minutes=45)) == set()
    assert diagnose_stages(timedelta(minutes=90), diagnosed=timedelta(minutes=70)) == set()


def test_diagnosis_breach_message_names_the_deadline() -> None:
    now = MONDAY_10 + timedelta(minutes=61)
    clock = clock_state(MONDAY_10 + timedelta(hours=1), MONDAY_10, now)
    f = facts("emergency", now=now, clocks={}, diagnosis=clock, timezone="Asia/Shanghai")
    (first, *_) = decide(f, "tick", CONFIG, now)
    assert first.title.startswith("[EMERGENCY] SLA BREACHED (diagnose): #42")
    assert "diagnosis by 2026-03-02 11:00 CST: breached" in first.body


def test_acknowledgement_goes_to_the_client_contacts() -> None:
    assert stage_contacts(decide(facts(), "acknowledged", CONFIG, MONDAY_10)) == {
        ("acknowledged", "cli")
    }


def test_per_client_rules_override_the_defaults() -> None:
    data = config_data()
    data["clients"][7]["escalation"] = {"near_fraction": 0.5, "on_near_breach": ["manager"]}
    config = parse_notify_config(data)
    halfway = MONDAY_10 + timedelta(hours=1)
    assert stage_contacts(decide(facts(now=halfway), "tick", config, halfway)) == {
        ("near_breach:respond", "mia"),
        ("near_breach:on_site", "mia"),
    }
    assert decide(facts(now=halfway), "tick", CONFIG, halfway) == []


def test_reopened_ticket_escalates_afresh_with_new_keys() -> None:
    first = {i.dedupe_key for i in decide(facts(), "opened", CONFIG, MONDAY_10)}
    again = {i.dedupe_key for i in decide(facts(), "opened", CONFIG, MONDAY_10)}
    reopened = {i.dedupe_key for i in decide(facts(cycle=1), "reopened", CONFIG, MONDAY_10)}
    assert first == again
    assert first.isdisjoint(reopened)


LEVELS = {"near_breach": 1, "breach": 2, "long_breach": 3}


def levels(intents: list[Any]) -> dict[str, int]:
    """Per clock, the highest escalation stage decided."""
    out: dict[str, int] = {}
    for intent in intents:
        kind, _, clock = intent.event.partition(":")
        if clock:
            out[clock] = max(out.get(clock, 0), LEVELS[kind])
    return out


@settings(deadline=None)
@given(
    start_offset=st.integers(0, 60 * 24 * 300),
    a=st.integers(0, 60 * 24 * 10),
    b=st.integers(0, 60 * 24 * 10),
    severity=st.sampled_from(["emergency", "general"]),
)
def test_escalation_never_steps_back_as_time_passes(
    start_offset: int, a: int, b: int, severity: str
) -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=start_offset)
    early, late = sorted((a, b))
    t1, t2 = started + timedelta(minutes=early), started + timedelta(minutes=late)
    first = decide(facts(severity, t1, started=started), "tick", CONFIG, t1)
    second = decide(facts(severity, t2, started=started), "tick", CONFIG, t2)
    l1, l2 = levels(first), levels(second)
    assert all(l2.get(clock, 0) >= level for clock, level in l1.items())
    assert len({i.dedupe_key for i in second}) == len(second)
    # Breach is reported exactly when the clock says so.
    f2 = facts(severity, t2, started=started)
    for clock, state in f2.clocks.items():
        assert (l2.get(clock.value, 0) >= 2) == (state.status.value == "breached")


# ---- rota and round robin ----

rota_members = st.lists(
    st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
)


@settings(deadline=None)
@given(
    members=rota_members,
    at=instants,
    days=st.integers(1, 14),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Shanghai"]),
)
def test_rota_hands_over_at_local_time_and_cycles(
    members: list[str], at: datetime, days: int, zone: str
) -> None:
    rota = OnCallRota(tuple(members), ROTA_START, time(8, 30), days, zone)
    who = rota.on_call(at)
    assert who in members
    # The same local time one whole cycle later (DST or not) has the same person on call.
    local = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    later_local = local + timedelta(days=days * len(members))
    later = later_local.replace(tzinfo=ZoneInfo(zone))
    if later.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == later_local:
        assert rota.on_call(later) == who


def test_rota_changes_exactly_at_the_local_handover_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    rota = OnCallRota(("a", "b"), date(2026, 3, 23), time(8, 30), 7, "Europe/Berlin")
    before = datetime(2026, 3, 30, 8, 29, 59, tzinfo=berlin)  # Monday after the DST change
    after = datetime(2026, 3, 30, 8, 30, tzinfo=berlin)
    assert (rota.on_call(before), rota.on_call(after)) == ("a", "b")
    assert rota.on_call(datetime(2026, 3, 23, 8, 0, tzinfo=berlin)) == "b"  # before the start


def test_rota_override_for_holiday_duty_wins() -> None:
    duty = RotaOverride(
        datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC), "holiday-duty"
    )
    rota = OnCallRota(("a", "b"), ROTA_START, overrides=(duty,))
    assert rota.on_call(datetime(2026, 10, 3, tzinfo=UTC)) == "holiday-duty"
    assert rota.on_call(datetime(2026, 10, 8, tzinfo=UTC)) in ("a", "b")
    with pytest.raises(ValueError, match="ends before"):
        RotaOverride(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "x")
    with pytest.raises(ValueError, match="at least one"):
        OnCallRota((), ROTA_START)


@settings(deadline=None)
@given(
    members=rota_members,
    rounds=st.integers(1, 4),
    first=st.one_of(st.none(), st.sampled_from(["a", "zz"])),
)
def test_round_robin_is_fair(members: list[str], rounds: int, first: str | None) -> None:
    last = first
    counts = dict.fromkeys(members, 0)
    for _ in range(rounds * len(members)):
        last = next_in_rotation(members, last)
        assert last is not None
        counts[last] += 1
    assert set(counts.values()) == {rounds}


def test_round_robin_skips_the_unavailable_and_off_hours_go_to_on_call() -> None:
    assert next_in_rotation(["a", "b", "c"], "a", available={"a", "c"}) == "c"
    assert next_in_rotation(["a", "b"], "a", available=set()) is None
    assert next_in_rotation([], None) is None
    rota = OnCallRota(("z",), ROTA_START)
    at = datetime(2026, 3, 2, 22, tzinfo=UTC)
    assert choose_assignee(["a", "b"], last_assigned="a", at=at, off_hours=True, rota=rota) == "z"
    assert choose_assignee(["a", "b"], last_assigned="a", at=at, off_hours=False, rota=rota) == "b"
    assert (
        choose_assignee(
            ["a"], last_assigned=None, at=at, off_hours=False, rota=rota, available=set()
        )
        == "z"
    )


# ---- config ----


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    data = config_data()
    data["teams"]["north"]["members"].append("ghost")
    with pytest.raises(
        NotifyConfigError, match=r"teams\.north\.members names unknown contact 'ghost'"
    ):
        parse_notify_config(data)
    data = config_data()
    data["teams"]["south"] = {"members": ["bob"], "sites": [10]}
    with pytest.raises(NotifyConfigError, match="site 10 is in teams north and south"):
        parse_notify_config(data)
    with pytest.raises(NotifyConfigError, match=r"delivery.*lease_seconds must be longer"):
        parse_notify_config({"delivery": {"timeout_seconds": 60, "lease_seconds": 30}})
    with pytest.raises(NotifyConfigError, match=r"escalation.near_fraction"):
        parse_notify_config({"escalation": {"near_fraction": 1.5}})
    with pytest.raises(NotifyConfigError, match=r"on_breach.0"):
        parse_notify_config({"escalation": {"on_breach": ["janitor"]}})
    bad = tmp_path / "notify.yaml"
    bad.write_text("delivery: {}\ncontacts:\n  alice: {channels: {}}\n", encoding="utf-8")
    with pytest.raises(NotifyConfigError, match=r"notify\.yaml:3 contacts.alice.channels"):
        load_notify_config(bad)
    bad.write_text("contacts: [unclosed\n", encoding="utf-8")
    with pytest.raises(NotifyConfigError, match=r"notify\.yaml:2 YAML syntax"):
        load_notify_config(bad)


def test_env_channels_keep_secrets_out_of_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_notify_config({"contacts": {"a": {"channels": {"wecom": "env:A_WECOM"}}}})
    with pytest.raises(NotifyConfigError, match=r"\$A_WECOM is not set"):
        config.resolve_url("a", "wecom")
    monkeypatch.setenv("A_WECOM", "wecombot://secret-key")
    assert config.resolve_url("a", "wecom") == "wecombot://secret-key"
    with pytest.raises(NotifyConfigError, match="no channel 'sms'"):
        config.resolve_url("a", "sms")


def test_empty_config_decides_nothing() -> None:
    assert decide(facts("emergency"), TicketEvent.OPENED, NotifyConfig(), MONDAY_10) == []
    assert Role.CLIENT.value == "client"


def test_the_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "configs" / "notify.example.yaml"
    config = load_notify_config(example)
    assert config.team_for_site(1) is not None
    assert config.rules_for(1).near_fraction == 0.75
    assert config.rules_for(99).near_fraction == 0.8
    holiday = datetime(2026, 10, 3, 12, tzinfo=UTC)
    rota = config.teams["north"].rota
    assert rota is not None
    assert rota.to_rota().on_call(holiday) == "alice"


def test_a_stage_nobody_would_hear_goes_to_the_manager() -> None:
    data = config_data()
    del data["teams"]["north"]["rota"]
    config = parse_notify_config(data)
    orphan = facts(assignee=None)
    assert stage_contacts(decide(orphan, "opened", config, MONDAY_10)) == {("opened", "mia")}
    # Client notices are not redirected: no client contact means no client notice.
    data["clients"][7]["client_contacts"] = []
    quiet = parse_notify_config(data)
    assert decide(orphan, "acknowledged", quiet, MONDAY_10) == []


def test_an_unanswered_ticket_goes_one_person_down_the_chain_per_period() -> None:
    # General: 60 min a step; the chain is alice (assignee), oscar (on call), mia, dan.
    waiting = facts(waiting_since=MONDAY_10)

    def contacts(minutes: int) -> list[tuple[int, str]]:
        at = MONDAY_10 + timedelta(minutes=minutes)
        return [(r.step, r.contact) for r in reroutes(waiting, CONFIG, at)]

    assert contacts(59) == []
    assert contacts(60) == [(1, "oscar")]
    assert contacts(125) == [(1, "oscar"), (2, "mia")]
    assert contacts(1000) == [(1, "oscar"), (2, "mia"), (3, "dan")]  # the chain ends
    emergency = facts("emergency", waiting_since=MONDAY_10)
    assert [r.contact for r in reroutes(emergency, CONFIG, MONDAY_10 + timedelta(minutes=16))] == [
        "oscar"
    ]
    late = MONDAY_10 + timedelta(minutes=61)
    tick = stage_contacts(decide(waiting, "tick", CONFIG, late))
    assert ("reroute:1", "oscar") in tick
    assert reroutes(facts(), CONFIG, late) == []  # someone acted: waiting_since is None
    assert not any(i.event.startswith("reroute") for i in decide(waiting, "resolved", CONFIG, late))


@pytest.mark.parametrize(
    "escalation",
    [{"reroute_after_minutes": {"general": 0}}, {"reroute_chain": ["technician", "client"]}],
)
def test_a_bad_reroute_setting_is_refused_at_start(escalation: dict[str, Any]) -> None:
    data = config_data()
    data["escalation"] = escalation
    with pytest.raises(NotifyConfigError, match="reroute"):
        parse_notify_config(data)


def test_the_client_is_told_the_technician_contact_and_eta_at_dispatch() -> None:
    eta = MONDAY_10 + timedelta(hours=1, minutes=30)
    card = {"name": "Service desk", "phone": "400-800-1234"}
    shanghai = "Asia/Shanghai"
    intents = decide(
        facts(eta=eta, contact=card, timezone=shanghai), "dispatched", CONFIG, MONDAY_10
    )
    (notice,) = [i for i in intents if i.contact == "cli"]
    assert notice.event == "dispatched"
    assert "Technician: alice" in notice.body
    assert "Phone: 400-800-1234" in notice.body
    assert "Expected on site: 2026-03-02 11:30" in notice.body  # the site's wall clock
    assert "You receive this as" not in notice.body  # not the staff's wording


def test_client_notices_are_in_the_contacts_language_with_the_link() -> None:
    data = config_data()
    data["contacts"]["cli"] = {"channels": {"sms": "json://127.0.0.1:9/x"}, "language": "zh-CN"}
    data["public_url"] = "https://svc.example/"
    config = parse_notify_config(data)
    resolved = decide(facts(client_link="/sign/sgn_abc"), "resolved", config, MONDAY_10)
    (notice,) = [i for i in resolved if i.contact == "cli"]
    assert "请查看维修记录并签字确认" in notice.body
    assert "https://svc.example/sign/sgn_abc" in notice.body
    soon = MONDAY_10 + timedelta(minutes=100)
    titles = {"zh-CN": "录像机 nvr-1：录像已停止", "en": "nvr-1: recording stopped"}  # noqa: RUF001
    near = decide(
        facts(now=soon, timezone="Asia/Shanghai", client_titles=titles), "tick", config, soon
    )
    client = [i for i in near if i.contact == "cli"]
    assert {i.event for i in client} == {"near_breach:respond", "near_breach:on_site"}
    assert all("我们可能无法在承诺时间内完成" in i.body for i in client)
    assert any("到场（2026-03-02 12:00）" in i.body for i in client)  # noqa: RUF001
    assert all("您的报修 #42：录像机 nvr-1：录像已停止" in i.body for i in client)  # noqa: RUF001
    assert not any("storage.recording_stopped" in i.body for i in client)


def test_closing_sends_the_survey_only_with_a_link() -> None:
    with_link = decide(facts(client_link="/survey/sms_x"), "closed", CONFIG, MONDAY_10)
    assert stage_contacts(with_link) == {("closed", "cli")}
    assert "/survey/sms_x" in with_link[0].body
    assert decide(facts(), "closed", CONFIG, MONDAY_10) == []  # a quiet recovery: no survey
