"""`secmon notify check` and `secmon notify send-test` against a local webhook receiver."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.peers.notify_sinks import WebhookSink, closed_port


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_send_test_reports_each_channel_and_fails_on_a_dead_one(tmp_path: Path) -> None:
    with WebhookSink() as sink:
        config = write(
            tmp_path / "notify.yaml",
            {
                "contacts": {
                    "alice": {
                        "channels": {
                            "hook": sink.apprise_url("alice"),
                            "dead": f"json://127.0.0.1:{closed_port()}/x",
                        }
                    }
                }
            },
        )
        runner = CliRunner()
        good = runner.invoke(
            app, ["notify", "send-test", "alice", "--channel", "hook", "-c", str(config)]
        )
        both = runner.invoke(app, ["notify", "send-test", "alice", "-c", str(config)])
        missing = runner.invoke(app, ["notify", "send-test", "zed", "-c", str(config)])
    assert good.exit_code == 0, good.output
    assert "alice/hook: sent" in good.output
    assert both.exit_code == 1
    assert "alice/dead: FAILED" in both.output
    assert sink.titles() == ["secmon test message", "secmon test message"]
    assert missing.exit_code == 2


def test_check_shows_teams_and_refuses_a_bad_file(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "configs" / "notify.example.yaml"
    result = CliRunner().invoke(app, ["notify", "check", "-c", str(example)])
    assert result.exit_code == 0, result.output
    assert "ok: 5 contacts, 1 teams" in result.output
    assert "team north: sites 1, 2; members alice, bob; on call" in result.output
    bad = write(tmp_path / "bad.yaml", {"teams": {"x": {"members": ["ghost"]}}})
    refused = CliRunner().invoke(app, ["notify", "check", "-c", str(bad)])
    assert refused.exit_code == 2
    assert "unknown contact 'ghost'" in refused.output
