"""The real server process runs the delivery worker: a queued row reaches a webhook receiver."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from peers.server import ServerProcess
from server.db import make_engine, write_session
from server.notify.config import load_notify_config
from server.notify.escalation import TicketFacts
from server.notify.hooks import on_ticket_event
from server.notify.models import Notification
from tests.peers.notify_sinks import WebhookSink, wait_until


def write_config(path: Path, hook_url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "contacts": {"alice": {"channels": {"hook": hook_url}}},
                "teams": {"north": {"members": ["alice"], "sites": [1]}},
                "delivery": {"poll_seconds": 0.2},
            }
        ),
        encoding="utf-8",
    )
    return path


def test_server_process_delivers_what_a_ticket_event_queued(
    database_url: str, tmp_path: Path
) -> None:
    with WebhookSink() as sink:
        config_path = write_config(tmp_path / "notify.yaml", sink.apprise_url("alice"))
        env = {"SECMON_NOTIFY_CONFIG": str(config_path)}
        with ServerProcess(database_url, workdir=tmp_path, env=env):
            engine = make_engine(database_url)
            try:
                facts = TicketFacts(
                    ticket_id=9,
                    client_id=1,
                    site_id=1,
                    severity="general",
                    title="door-3: access.reader_fault",
                    assignee="alice",
                )
                with write_session(engine) as session:
                    queued = on_ticket_event(
                        session,
                        9,
                        "opened",
                        facts=facts,
                        config=load_notify_config(config_path),
                        now=datetime.now(UTC),
                    )
                assert queued == 1
                assert wait_until(lambda: bool(sink.hooks), timeout=60)

                def sent() -> bool:
                    with write_session(engine) as s:
                        return s.scalar(select(Notification.status)) == "sent"

                assert wait_until(sent, timeout=30)
            finally:
                engine.dispose()
    assert sink.titles() == ["[GENERAL] New ticket: #9 door-3: access.reader_fault"]


def test_server_refuses_to_start_with_a_broken_notify_config(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "broken-notify.yaml"
    bad.write_text("contacts: {alice: {channels: {}}}\n", encoding="utf-8")
    server = ServerProcess(sqlite_url, workdir=tmp_path, env={"SECMON_NOTIFY_CONFIG": str(bad)})
    with pytest.raises(
        RuntimeError,
        match=r"secmon: notify config: .*broken-notify\.yaml:1 contacts\.alice\.channels",
    ):
        server.start(timeout=30)
