"""Inspections on a real database: generation, pre-fill from stored rollups and episodes,
completion, two signatures, the seal, tampering and amendments."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from peers.server import provision
from server import migrate
from server.db import make_engine, write_session
from server.faults.picture import EVIDENCE_CHECK
from server.inspections.evidence import RowResult
from server.inspections.models import Inspection, InspectionAmendment, InspectionRow
from server.inspections.record import InspectionState, RecordError, RowAnswer
from server.inspections.store import (
    Signature,
    amend,
    answer,
    blank_rows,
    complete,
    generate,
    generate_all,
    notify_overdue,
    prefill,
    rows_of,
    sign,
    verify,
)
from server.inspections.template import Contracts, shipped_template
from server.models import (
    CheckDay,
    Device,
    DeviceState,
    FaultEpisode,
    SampleRow,
    Site,
    Ticket,
    UptimeDay,
)

# Shanghai (UTC+8): December 2026 runs from 11-30 16:00 UTC; on 12-04 10:00 local three
# complete local days (12-01 .. 12-03) are behind.
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
START = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
DAY = 86400


def _add_device(session: Session, site_id: int, ext_id: str, device_class: str) -> int:
    device = Device(
        site_id=site_id,
        ext_id=ext_id,
        name=ext_id,
        device_class=device_class,
        subsystem="video" if device_class in ("camera", "nvr") else "power",
        protocol="snmp",
        parent_ext_id=None,
        vendor=None,
        model=None,
        serial=None,
        firmware=None,
        first_registered_at=START - timedelta(days=30),
        last_registered_at=START,
    )
    session.add(device)
    session.flush()
    return device.id


def _episode(
    site_id: int, device_id: int, code: str, start: datetime, end: datetime | None
) -> dict[str, object]:
    key = f"{device_id}:{code}:{start.isoformat()}"
    return {
        "key": key,
        "open_key": key if end is None else None,
        "site_id": site_id,
        "device_id": device_id,
        "code": code,
        "severity": "general",
        "started_at": start,
        "confirmed_at": start,
        "recovered_at": end,
        "last_failing_at": end or start,
        "occurrences": 1,
        "flapping": False,
    }


def _state(device_id: int, checks: dict[str, object]) -> DeviceState:
    return DeviceState(
        device_id=device_id,
        status="up",
        reachable=True,
        last_sample_at=NOW,
        last_seen_at=NOW,
        checks=checks,
        updated_at=NOW,
    )


def _uptime(
    device_id: int, day: date, up: int, down: int = 0, nodata: int = 0
) -> dict[str, object]:
    return {
        "device_id": device_id,
        "day": day,
        "up_s": up,
        "down_s": down,
        "unknown_s": 0,
        "maintenance_s": 0,
        "nodata_s": nodata,
    }


@pytest.fixture
def site(database_url: str) -> dict[str, int]:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["cam-1", "cam-2"], timezone="Asia/Shanghai")
    engine = make_engine(database_url)
    try:
        with write_session(engine) as session:
            ids = {
                "site": tenant.site_id,
                "cam-1": tenant.device_pks["cam-1"],
                "cam-2": tenant.device_pks["cam-2"],
                "nvr-1": _add_device(session, tenant.site_id, "nvr-1", "nvr"),
                "ups-1": _add_device(session, tenant.site_id, "ups-1", "ups"),
            }
            days = [date(2026, 12, d) for d in (1, 2, 3)]
            rows = [_uptime(ids["cam-1"], d, DAY) for d in days]
            # cam-2: the agent was offline for a whole day; the server knew nothing.
            rows += [
                _uptime(ids["cam-2"], days[0], DAY),
                _uptime(ids["cam-2"], days[1], 0, nodata=DAY),
            ]
            rows += [_uptime(ids["cam-2"], days[2], DAY)]
            # nvr-1 down 6 h on 12-02.
            rows += [_uptime(ids["nvr-1"], d, DAY) for d in (days[0], days[2])]
            rows += [_uptime(ids["nvr-1"], days[1], DAY - 6 * 3600, down=6 * 3600)]
            rows += [_uptime(ids["ups-1"], d, DAY) for d in days]
            session.execute(insert(UptimeDay), rows)
            seen = (NOW - timedelta(minutes=1)).isoformat()
            for name, check, value in [
                ("cam-1", "clock.offset_s", 1.2),
                ("nvr-1", "recording.retention_days", 45.0),
                ("ups-1", "ups.battery.minutes_remaining", 4.0),
            ]:
                session.merge(
                    _state(
                        ids[name], {check: {"value": value, "changed_at": seen, "updated_at": seen}}
                    )
                )
            down_at = START + timedelta(days=1, hours=2)
            session.execute(
                insert(FaultEpisode),
                [
                    _episode(
                        ids["site"],
                        ids["nvr-1"],
                        "device.unreachable",
                        down_at,
                        down_at + timedelta(hours=6),
                    ),
                    # the UPS battery is low and still is
                    _episode(
                        ids["site"],
                        ids["ups-1"],
                        "power.battery_low",
                        START + timedelta(hours=30),
                        None,
                    ),
                ],
            )
    finally:
        engine.dispose()
    return ids


def _session(database_url: str) -> Session:
    return Session(make_engine(database_url), expire_on_commit=False)


def _by(rows: list[InspectionRow]) -> dict[tuple[str, str | None], InspectionRow]:
    return {(r.item_id, r.device_name): r for r in rows}


def test_generation_is_idempotent_and_gives_exactly_the_applicable_rows(
    database_url: str, site: dict[str, int]
) -> None:
    template = shipped_template()
    with _session(database_url) as session:
        s = session.get(Site, site["site"])
        assert s is not None
        first = generate(session=session, site=s, template=template, now=NOW)
        session.commit()
        again = generate(session=session, site=s, template=template, now=NOW + timedelta(days=3))
        session.commit()
        assert first is not None
        assert again is not None
        assert first.id == again.id
        assert (first.period_start, first.period_end) == (date(2026, 12, 1), date(2027, 1, 1))
        assert first.due_at == datetime(2026, 12, 10, 16, tzinfo=UTC)
        rows = list(rows_of(session=session, inspection_id=first.id))
        expected: list[tuple[str, str | None]] = []
        for item in template.items:
            if not item.classes:
                expected.append((item.id, None))
            for name, cls in (
                ("cam-1", "camera"),
                ("cam-2", "camera"),
                ("nvr-1", "nvr"),
                ("ups-1", "ups"),
            ):
                if cls in item.classes:
                    expected.append((item.id, name))
        assert sorted((r.item_id, r.device_name) for r in rows) == sorted(expected)
        assert session.scalar(select(func.count()).select_from(Inspection)) == 1
        # the next month is a new inspection
        january = generate(
            session=session, site=s, template=template, now=datetime(2027, 1, 2, tzinfo=UTC)
        )
        assert january is not None
        assert january.id != first.id


def test_prefill_from_stored_history_and_an_inspection_ticket_for_an_uncovered_failure(
    database_url: str, site: dict[str, int]
) -> None:
    with _session(database_url) as session:
        handled = generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        assert handled == 1
        inspection = session.scalars(select(Inspection)).one()
        rows = _by(list(rows_of(session=session, inspection_id=inspection.id)))
        cam1 = rows[("frontend.camera_online", "cam-1")]
        assert cam1.prefill == "pass"
        assert cam1.evidence is not None
        assert cam1.evidence["up_s"] == 3 * DAY
        assert cam1.evidence["unknown_s"] == 0
        cam2 = rows[("frontend.camera_online", "cam-2")]
        assert cam2.prefill == "unknown"  # a day without data is not a day up
        assert cam2.evidence is not None
        assert cam2.evidence["unknown_s"] == DAY
        nvr = rows[("central.recorder_online", "nvr-1")]
        assert nvr.prefill == "fail"
        assert nvr.evidence is not None
        assert (nvr.evidence["outages"], nvr.evidence["outage_s"]) == (1, 6 * 3600)
        assert nvr.evidence["availability_percent"] == round(
            100 * (3 * DAY - 6 * 3600) / (3 * DAY), 3
        )
        assert rows[("central.recording", "nvr-1")].prefill == "pass"
        assert rows[("central.retention", "nvr-1")].prefill == "pass"
        assert rows[("frontend.camera_clock", "cam-1")].prefill == "pass"
        assert rows[("frontend.camera_clock", "cam-2")].prefill == "unknown"  # never read
        runtime = rows[("central.ups_runtime", "ups-1")]
        assert runtime.prefill == "fail"
        assert runtime.evidence is not None
        assert runtime.evidence["low"] == 4.0
        ups = rows[("central.power", "ups-1")]
        assert ups.prefill == "fail"
        assert ups.sentence
        assert "power.battery_low" in ups.sentence
        assert rows[("system.open_tickets", None)].prefill == "pass"
        assert rows[("cabling.earthing", None)].prefill is None  # a person answers it
        # The failing rows had no ticket behind them: each opened one inspection ticket.
        opened = session.scalars(select(Ticket).where(Ticket.kind == "inspection")).all()
        assert sorted(t.code or "" for t in opened) == [
            "inspection.central.power",
            "inspection.central.recorder_online",
            "inspection.central.ups_runtime",
        ]
        assert all(t.severity == "general" for t in opened)
        assert ups.ticket_ids is not None
        assert ups.ticket_ids["opened"] in {t.id for t in opened}
        # Pre-filling again (the next round) opens nothing new.
        prefill(session=session, inspection=inspection, now=NOW + timedelta(hours=1))
        session.commit()
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3


def test_completion_signatures_seal_tamper_and_amendment(
    database_url: str, site: dict[str, int]
) -> None:
    with _session(database_url) as session:
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        inspection = session.scalars(select(Inspection)).one()
        blank = blank_rows(session=session, inspection_id=inspection.id)
        assert "cabling.earthing" in blank
        assert "frontend.camera_online@cam-2" in blank
        with pytest.raises(RecordError, match=r"not answered: .*cabling.earthing"):
            complete(session=session, inspection=inspection, now=NOW)
        rows = list(rows_of(session=session, inspection_id=inspection.id))
        by_label = {(r.item_id, r.device_name): r.id for r in rows}
        with pytest.raises(RecordError, match="no such row"):
            answer(
                session=session,
                inspection=inspection,
                answers=[RowAnswer(10**6, RowResult.PASS, None)],
                author="li",
                now=NOW,
            )
        answers = [
            RowAnswer(by_label[key], RowResult.PASS, "checked on site")
            for key in by_label
            if key[0] in {"cabling.earthing"}
            or by_label[key] in {r.id for r in rows if r.prefill in (None, "unknown")}
        ]
        answer(session=session, inspection=inspection, answers=answers, author="li", now=NOW)
        session.commit()
        assert blank_rows(session=session, inspection_id=inspection.id) == []
        with pytest.raises(RecordError, match="technician signs first"):
            sign(
                session=session,
                inspection=inspection,
                who="client",
                signature=Signature("王", "经理"),
                now=NOW,
            )
        complete(session=session, inspection=inspection, now=NOW)
        sign(
            session=session,
            inspection=inspection,
            who="technician",
            signature=Signature("李工", "技术员"),
            now=NOW,
        )
        sign(
            session=session,
            inspection=inspection,
            who="client",
            signature=Signature("王", "经理"),
            now=NOW,
        )
        session.commit()
        assert inspection.state == InspectionState.SIGNED.value
        assert inspection.seal_sha256
        with pytest.raises(RecordError, match="already signed"):
            sign(
                session=session,
                inspection=inspection,
                who="client",
                signature=Signature("王", "经理"),
                now=NOW,
            )
        with pytest.raises(RecordError, match="only by amendment"):
            answer(
                session=session, inspection=inspection, answers=answers[:1], author="li", now=NOW
            )
        assert verify(session=session, inspection=inspection).intact
        # An amendment sits beside the row; the signed record and its seal are unchanged.
        with pytest.raises(RecordError, match="needs a reason"):
            amend(
                session=session,
                inspection=inspection,
                row_id=answers[0].row_id,
                result=RowResult.FAIL,
                note=None,
                reason=" ",
                author="li",
                now=NOW,
            )
        amend(
            session=session,
            inspection=inspection,
            row_id=answers[0].row_id,
            result=RowResult.FAIL,
            note="rust",
            reason="seen later",
            author="li",
            now=NOW,
        )
        session.commit()
        assert session.scalar(select(func.count()).select_from(InspectionAmendment)) == 1
        assert verify(session=session, inspection=inspection).intact
        # Someone changes a row in the database: verification fails.
        session.execute(
            update(InspectionRow).where(InspectionRow.id == answers[0].row_id).values(result="fail")
        )
        session.commit()
        session.expire_all()
        reread = session.get(Inspection, inspection.id)
        assert reread is not None
        result = verify(session=session, inspection=reread)
        assert not result.intact
        assert result.stored == reread.seal_sha256


def test_secmon_inspections_verify_says_intact_then_altered(
    database_url: str, site: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    generated = runner.invoke(app, ["inspections", "generate"])
    assert generated.exit_code == 0, generated.output
    assert "1 site(s)" in generated.output
    with _session(database_url) as session:
        inspection = session.scalars(select(Inspection)).one()
        rows = rows_of(session=session, inspection_id=inspection.id)
        answer(
            session=session,
            inspection=inspection,
            answers=[RowAnswer(r.id, RowResult.PASS, None) for r in rows],
            author="li",
            now=NOW,
        )
        complete(session=session, inspection=inspection, now=NOW)
        sign(
            session=session,
            inspection=inspection,
            who="technician",
            signature=Signature("李工", "技术员"),
            now=NOW,
        )
        sign(
            session=session,
            inspection=inspection,
            who="client",
            signature=Signature("王", "经理"),
            now=NOW,
        )
        session.commit()
        iid, first_row = inspection.id, rows[0].id
    ok = runner.invoke(app, ["inspections", "verify", str(iid)])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    with _session(database_url) as session:
        session.execute(
            update(InspectionRow).where(InspectionRow.id == first_row).values(text_zh="改")
        )
        session.commit()
    altered = runner.invoke(app, ["inspections", "verify", str(iid)])
    assert altered.exit_code == 1
    assert "ALTERED" in altered.output
    missing = runner.invoke(app, ["inspections", "verify", "999999"])
    assert missing.exit_code == 2


def test_overdue_inspection_is_notified_once_through_the_queue(
    database_url: str, site: dict[str, int]
) -> None:
    from server.notify.config import parse_notify_config
    from server.notify.models import Notification

    with _session(database_url) as session:
        client_id = session.get(Site, site["site"]).client_id  # type: ignore[union-attr]
    config = parse_notify_config(
        {
            "contacts": {
                "li": {"channels": {"mail": "mailto://li@127.0.0.1", "hook": "json://127.0.0.1:9"}},
                "wang": {"channels": {"mail": "mailto://wang@127.0.0.1"}},
                "zhao": {"channels": {"mail": "mailto://zhao@127.0.0.1"}},
            },
            "teams": {"field": {"members": ["li"], "sites": [site["site"]]}},
            "clients": {str(client_id): {"managers": ["wang", "li"]}},
        }
    )
    with _session(database_url) as session:
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        assert notify_overdue(session=session, config=config, now=NOW) == 0  # due 12-10
        late = datetime(2026, 12, 10, 17, tzinfo=UTC)
        assert notify_overdue(session=session, config=config, now=late) == 1
        session.commit()
        sent = session.scalars(
            select(Notification).where(Notification.event == "inspection_overdue")
        ).all()
        # li (team, and a manager: once) on two channels, wang on one; zhao is in neither.
        assert sorted((n.contact, n.channel) for n in sent) == [
            ("li", "hook"),
            ("li", "mail"),
            ("wang", "mail"),
        ]
        assert all(n.ticket_id is None for n in sent)
        assert "Rows still to answer" in sent[0].body
        assert notify_overdue(session=session, config=config, now=late + timedelta(hours=1)) == 0
        session.commit()
        assert (
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.event == "inspection_overdue")
            )
            == 3
        )


def test_job_round_generates_and_a_second_round_adds_nothing(
    database_url: str, site: dict[str, int]
) -> None:
    from server.db import session_factory
    from server.inspections.job import run_once
    from server.notify.hooks import EMPTY_CONFIG

    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        contracts = Contracts(shipped_template())
        assert run_once(sessions, contracts, lambda: EMPTY_CONFIG) == 1
        assert run_once(sessions, contracts, lambda: EMPTY_CONFIG) == 1
        with Session(engine) as session:
            (inspection,) = session.scalars(select(Inspection)).all()
            rows = session.scalar(select(func.count()).select_from(InspectionRow))
            assert rows == len(rows_of(session=session, inspection_id=inspection.id))
            assert inspection.prefilled_at is not None
    finally:
        engine.dispose()


def _check_day(device_id: int, check: str, day: date, **values: float) -> CheckDay:
    mean = values.get("mean", values.get("high", 0.0))
    return CheckDay(
        device_id=device_id,
        check=check,
        day=day,
        part="",
        count=int(values.get("count", 24)),
        min=values.get("low", mean),
        max=values.get("high", mean),
        mean=mean,
        last=mean,
        last_ts=START + timedelta(days=1),
        delta=0.0,
        resets=0,
        rejected=0,
    )


def test_prefill_snapshot_share_and_poe_budget_from_rollups(
    database_url: str, site: dict[str, int]
) -> None:
    days = [date(2026, 12, 1), date(2026, 12, 2)]
    with _session(database_url) as session:
        pse = _add_device(session, site["site"], "sw-core", "switch")
        tplink = _add_device(session, site["site"], "sw-tplink", "switch")
        session.add_all(
            [
                # cam-1: 189 good of 200 judged snapshots, 94.5 %, under the 95 % threshold.
                _check_day(site["cam-1"], "picture.ok", days[0], count=100, mean=0.99),
                _check_day(site["cam-1"], "picture.ok", days[1], count=100, mean=0.9),
                # Two PSEs: the second one's budget peaked over 90 %.
                _check_day(pse, "poe.pse.pse1.budget_used_percent", days[0], low=20, high=40),
                _check_day(pse, "poe.pse.pse2.budget_used_percent", days[1], low=60, high=93.5),
            ]
        )
        seen = (NOW - timedelta(minutes=5)).isoformat()
        session.merge(
            _state(tplink, {"poe.budget_used_percent": {"value": 41.0, "updated_at": seen}})
        )
        session.commit()
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        inspection = session.scalars(select(Inspection)).one()
        rows = _by(list(rows_of(session=session, inspection_id=inspection.id)))
    cam1 = rows[("frontend.camera_snapshots", "cam-1")]
    assert cam1.prefill == "fail"
    assert cam1.evidence == {"judged": 200, "good": 189, "good_percent": 94.5, "min_percent": 95}
    assert rows[("frontend.camera_snapshots", "cam-2")].prefill == "unknown"
    core = rows[("cabling.poe_budget", "sw-core")]
    assert core.prefill == "fail"
    assert core.evidence is not None
    assert (core.evidence["low"], core.evidence["high"]) == (20, 93.5)
    small = rows[("cabling.poe_budget", "sw-tplink")]
    assert small.prefill == "pass"
    assert small.evidence is not None
    assert small.evidence["source"] == "latest reading"
    assert small.evidence["high"] == 41.0


def _picture_sample(device_id: int, ts: datetime, evidence: str) -> SampleRow:
    return SampleRow(
        id=uuid4(),
        device_id=device_id,
        ts=ts,
        received_at=ts,
        probe="onvif",
        reachable=True,
        latency_ms=None,
        error_code=None,
        error_message=None,
        checks={"camera.image_abnormal": bool(evidence), EVIDENCE_CHECK: evidence},
        events=None,
        events_only=False,
    )


def test_prefill_picture_rows_name_the_reasons_and_measures_of_the_period(
    database_url: str, site: dict[str, int]
) -> None:
    covered_at = START + timedelta(days=2, hours=3)  # 12-03 11:00 local
    moved_at = START + timedelta(days=1, hours=20)  # 12-02 20:00 local
    lost_at = START + timedelta(hours=5)  # cam-2, 12-01 local, its samples pruned
    cam1, cam2 = site["cam-1"], site["cam-2"]
    with _session(database_url) as session:
        session.execute(
            insert(FaultEpisode),
            [
                _episode(site["site"], cam1, "camera.image_abnormal", covered_at, None),
                _episode(
                    site["site"], cam1, "camera.image_abnormal", moved_at, moved_at + timedelta(1)
                ),
                _episode(
                    site["site"], cam2, "camera.image_abnormal", lost_at, lost_at + timedelta(1)
                ),
            ],
        )
        session.add_all(
            [
                _picture_sample(
                    cam1, moved_at - timedelta(minutes=5), "blurred: sharpness_ratio=0.2"
                ),
                _picture_sample(cam1, moved_at, ""),  # the verdict's first snapshot said nothing
                _picture_sample(cam1, moved_at + timedelta(minutes=5), "moved: scene_match=0.31"),
                _picture_sample(cam1, covered_at, "covered: edge_ratio=0.14 brightness_ratio=0.59"),
                _picture_sample(cam1, covered_at + timedelta(minutes=5), "covered: edge_ratio=0.5"),
            ]
        )
        session.commit()
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        inspection = session.scalars(select(Inspection)).one()
        rows = _by(list(rows_of(session=session, inspection_id=inspection.id)))
    snapshots = rows[("frontend.camera_snapshots", "cam-1")]
    assert snapshots.evidence is not None
    assert snapshots.evidence["picture_faults"] == [
        {
            "episode_id": snapshots.evidence["picture_faults"][0]["episode_id"],
            "day": "2026-12-02",
            "reasons": [{"reason": "moved", "measures": {"scene_match": 0.31}}],
        },
        {
            "episode_id": snapshots.evidence["picture_faults"][1]["episode_id"],
            "day": "2026-12-03",
            "reasons": [
                {"reason": "covered", "measures": {"edge_ratio": 0.14, "brightness_ratio": 0.59}}
            ],
        },
    ]
    assert snapshots.sentence == (
        "No snapshot judged in the period. 2 picture fault(s) in the period: moved on 12-02 "
        "(scene match 0.31 (1: the learned view)), covered on 12-03 (edge density 14 % of "
        "baseline; brightness -41 %)."
    )
    picture = rows[("frontend.camera_picture", "cam-1")]
    assert picture.prefill == "fail"  # the cover is still on
    assert picture.sentence is not None
    assert picture.sentence.endswith(snapshots.sentence.split(" period. ", 1)[1])
    lost = rows[("frontend.camera_picture", "cam-2")]
    assert lost.evidence is not None
    assert lost.evidence["picture_faults"][0]["reasons"] == []
    assert lost.sentence is not None
    assert "picture fault on 12-01 (measures no longer stored)" in lost.sentence
    # Rows of other rules carry no picture faults.
    assert rows[("frontend.camera_online", "cam-1")].evidence is not None
    assert "picture_faults" not in (rows[("frontend.camera_online", "cam-1")].evidence or {})
