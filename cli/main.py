"""`secmon` console script.

Each subcommand imports its side (agent or server) only when run, so a gateway with only the
`agent` extra can run `secmon agent …`, and a missing extra is named instead of a traceback.
"""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from wire.enums import Role

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
agent_app = typer.Typer(no_args_is_help=True, help="Run or test a site agent.")
server_app = typer.Typer(no_args_is_help=True, help="Run the central server.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema and housekeeping.")
admin_app = typer.Typer(no_args_is_help=True, help="Create clients, sites, agent tokens, users.")
notify_app = typer.Typer(no_args_is_help=True, help="Check notification chains, send a test.")
predict_app = typer.Typer(no_args_is_help=True, help="Failure forecasts: replay a fleet offline.")
app.add_typer(agent_app, name="agent")
app.add_typer(server_app, name="server")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(notify_app, name="notify")
app.add_typer(predict_app, name="predict")
inspections_app = typer.Typer(no_args_is_help=True, help="Monthly inspections: generate, verify.")
app.add_typer(inspections_app, name="inspections")
report_app = typer.Typer(no_args_is_help=True, help="Client documents as PDF or HTML.")
app.add_typer(report_app, name="report")

EXIT_MISSING_EXTRA = 3

# Third-party modules that only an extra brings, mapped to that extra.
_EXTRA_OF_MODULE = {
    "httpx": "agent",
    "prometheus_client": "agent",
    "lxml": "agent",
    "fastapi": "server",
    "sqlalchemy": "server",
    "alembic": "server",
    "uvicorn": "server",
    "argon2": "server",
    "jwt": "server",
    "pydantic_settings": "server",
    "psycopg": "server",
    "apprise": "server",
    "numpy": "server",
}


def _load(module: str, extra: str) -> ModuleType:
    """Import `module`, or exit naming the extra whose install brings what is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        needed = _EXTRA_OF_MODULE.get(top, extra)
        typer.echo(
            f"secmon: this command needs the '{needed}' extra ({top} is not installed): "
            f"pip install 'secmon[{needed}]'",
            err=True,
        )
        raise typer.Exit(EXIT_MISSING_EXTRA) from err


ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Agent config file (YAML).", dir_okay=False)
]


@agent_app.command("check")
def agent_check(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per device.")] = False,
) -> None:
    """Poll every device once and print the results; pushes nothing."""
    raise typer.Exit(_load("agent.commands", "agent").check(config, as_json=as_json))


@agent_app.command("run")
def agent_run(config: ConfigOpt) -> None:
    """Run the agent: poll, keep results in the outbox, push them to the server."""
    raise typer.Exit(_load("agent.commands", "agent").run(config))


@agent_app.command("relearn")
def agent_relearn(
    config: ConfigOpt,
    device_id: Annotated[str, typer.Argument(help="The camera's id in the config.")],
) -> None:
    """Forget a camera's learned picture (re-aimed on purpose); the agent re-learns it."""
    raise typer.Exit(_load("agent.commands", "agent").relearn(config, device_id))


@agent_app.command("discover")
def agent_discover(
    interface: Annotated[
        str, typer.Option("--interface", "-i", help="Network interface (or its IPv4 address).")
    ],
    wait: Annotated[float, typer.Option(help="Seconds to wait for answers.", min=0.5)] = 3.0,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Also write the found devices as a config snippet (YAML).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Find ONVIF cameras on one interface (WS-Discovery) and list them."""
    raise typer.Exit(
        _load("agent.probes.onvif.discovery", "agent").run(interface, wait_s=wait, write=write)
    )


@server_app.command("run")
def server_run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the API (migrates the database first)."""
    _load("server.commands", "server").serve(host=host, port=port)


@server_app.command("rules")
def server_rules(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Fault rules file (default $SECMON_FAULT_RULES).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Validate the fault rules file and list the rules in force."""
    _load("server.commands", "server").show_rules(file=file)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (DATABASE_URL, default an SQLite file here)."""
    _load("server.commands", "server").db_upgrade(revision=revision)


@app.command("backup")
def backup(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="New file for the copy.", dir_okay=False)
    ],
) -> None:
    """Copy the live SQLite database (online backup API); for PostgreSQL, name the pg_dump."""
    _load("server.commands", "server").backup(out=out)


@db_app.command("prune")
def db_prune() -> None:
    """Delete raw samples older than the retention setting."""
    _load("server.commands", "server").db_prune()


@admin_app.command("create-client")
def admin_create_client(
    name: Annotated[str, typer.Argument()],
    sla_preset: Annotated[
        str,
        typer.Option(
            help="SLA preset the client's deadlines follow (default security_default, which "
            "takes any zone); an unknown name is refused with the list of presets."
        ),
    ] = "",
) -> None:
    """Create a client (tenant)."""
    _load("server.commands", "server").create_client(name=name, sla_preset=sla_preset or None)


@admin_app.command("create-site")
def admin_create_site(
    client: Annotated[str, typer.Option(help="Client name.")],
    name: Annotated[str, typer.Option(help="Site name.")],
    timezone: Annotated[
        str,
        typer.Option(
            help="IANA time zone of the site, e.g. Asia/Shanghai (required: business hours, "
            "statutory holidays and KPI months are the site's local ones)."
        ),
    ],
    zone: Annotated[str, typer.Option(help="SLA zone of the site.")] = "default",
) -> None:
    """Create a site under a client."""
    _load("server.commands", "server").create_site(
        client=client, name=name, zone=zone, timezone=timezone
    )


@admin_app.command("set-policy")
def admin_set_policy(
    client: Annotated[str, typer.Option(help="Client name.")],
    preset: Annotated[str, typer.Option(help="SLA preset (see docs/sla-and-notifications.md).")],
    general_hours: Annotated[
        str,
        typer.Option(
            help="'business' when the client's contract limits general faults to working "
            "hours, '24x7' to undo that; left out, the preset's own rule stands."
        ),
    ] = "",
) -> None:
    """Choose the SLA preset a client's deadlines follow."""
    module = _load("server.commands", "server")
    mode = None
    if general_hours:
        try:
            mode = module.CalendarMode(general_hours)
        except ValueError as err:
            raise typer.BadParameter(
                "use 'business' or '24x7'", param_hint="--general-hours"
            ) from err
    module.set_policy(client=client, preset=preset, general_calendar=mode)


@admin_app.command("load-holidays")
def admin_load_holidays(
    file: Annotated[
        Path, typer.Argument(help="Holiday file, one year (format: server/sla/holidays/).")
    ],
    country: Annotated[str, typer.Option(help="Two-letter country code, e.g. cn.")] = "cn",
) -> None:
    """Load one year of statutory holidays and make-up working days (a new notice)."""
    _load("server.commands", "server").load_holidays(file=file, country=country)


@admin_app.command("holidays")
def admin_holidays() -> None:
    """List the statutory holiday years per country and flag the missing ones."""
    _load("server.commands", "server").show_holidays()


@admin_app.command("create-agent-token")
def admin_create_agent_token(
    site: Annotated[str, typer.Option(help="Site name.")],
    client: Annotated[str, typer.Option(help="Client name (when site names repeat).")] = "",
) -> None:
    """Create an agent token for a site; the token is printed once and stored hashed."""
    _load("server.commands", "server").create_agent_token(site=site, client=client or None)


@admin_app.command("status-link")
def admin_status_link(
    client: Annotated[str, typer.Option(help="Client name.")],
) -> None:
    """Make a new share link for the client's status page (the old one stops working)."""
    _load("server.commands", "server").status_link(client=client)


@admin_app.command("revoke-agent-token")
def admin_revoke_agent_token(
    prefix: Annotated[str, typer.Argument(help="The token's public prefix.")],
) -> None:
    """Revoke an agent token."""
    _load("server.commands", "server").revoke_agent_token(prefix=prefix)


@admin_app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()],
    client: Annotated[str, typer.Option(help="Client the user belongs to (role client).")] = "",
    password_env: Annotated[
        str, typer.Option(help="Read the password from this environment variable.")
    ] = "",
) -> None:
    """Create a user; prompts for the password unless --password-env is given."""
    _load("server.commands", "server").create_user(
        username=username, role=role, client=client or None, password_env=password_env or None
    )


NotifyConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Notify config (default $SECMON_NOTIFY_CONFIG).", dir_okay=False
    ),
]


@notify_app.command("check")
def notify_check(config: NotifyConfigOpt = None) -> None:
    """Validate the notify config and show each team's on-call member now."""
    _load("server.notify.commands", "server").check(config=config)


@notify_app.command("send-test")
def notify_send_test(
    contact: Annotated[str, typer.Argument(help="Contact key in the notify config.")],
    channel: Annotated[str, typer.Option(help="Only this channel of the contact.")] = "",
    config: NotifyConfigOpt = None,
) -> None:
    """Send a test message through a contact's channels now (not through the queue)."""
    _load("server.notify.commands", "server").send_test(
        contact=contact, channel=channel or None, config=config
    )


@inspections_app.command("verify")
def inspections_verify(
    inspection_id: Annotated[int, typer.Argument(help="The inspection's id.")],
) -> None:
    """Recompute a signed inspection's SHA-256 seal; exit 1 if the record was altered."""
    raise typer.Exit(_load("server.inspections.commands", "server").verify_record(inspection_id))


@inspections_app.command("generate")
def inspections_generate() -> None:
    """Generate and pre-fill every site's inspection for the current cycle now."""
    raise typer.Exit(_load("server.inspections.commands", "server").generate_now())


@report_app.command("inspection")
def report_inspection(
    inspection_id: Annotated[int, typer.Argument(help="The inspection's id.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf, or FILE.html", dir_okay=False)],
) -> None:
    """The monthly inspection record (header, every row with evidence, signatures, seal)."""
    raise typer.Exit(_load("server.reports.commands", "server").inspection(inspection_id, out))


@report_app.command("quarterly")
def report_quarterly(
    client: Annotated[str, typer.Option(help="Client name.")],
    year: Annotated[int, typer.Option(help="Year of the quarter.")],
    quarter: Annotated[int, typer.Option(help="Quarter, 1 to 4.", min=1, max=4)],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf, or FILE.html", dir_okay=False)],
) -> None:
    """The client's quarterly maintenance report (availability, tickets, inspections, parts)."""
    raise typer.Exit(
        _load("server.reports.commands", "server").quarterly(client, year, quarter, out)
    )


@app.command("simulate")
def simulate(
    scenario: Annotated[
        str, typer.Argument(help="Scenario file (YAML), or a shipped one: demo, training.")
    ],
    data_dir: Annotated[
        Path, typer.Option(help="Where the agent config and the cue inbox go.")
    ] = Path(".simulate"),
    server: Annotated[str, typer.Option(help="Server URL the agent config points at.")] = (
        "http://127.0.0.1:8000"
    ),
    token_file: Annotated[
        Path, typer.Option(help="The agent token file the agent config names.")
    ] = Path("agent-token"),
    interval: Annotated[float, typer.Option(help="Poll interval of each device, s.")] = 5.0,
    time_scale: Annotated[
        float, typer.Option(help="Timeline times multiplied by this (0.5: twice as fast).")
    ] = 1.0,
) -> None:
    """Run a simulated site (snmpsim, ONVIF, Mosquitto on 127.0.0.1) and play a scenario."""
    scenarios = _load("simulate.scenario", "dev")
    runner = _load("simulate.runner", "dev")
    try:
        loaded = scenarios.load_scenario(scenario)
    except scenarios.ConfigError as err:
        typer.echo(f"secmon: {err}", err=True)
        raise typer.Exit(2) from err
    raise typer.Exit(
        runner.run(
            loaded,
            data_dir=data_dir,
            server_url=server,
            token_file=token_file,
            interval=interval,
            time_scale=time_scale,
        )
    )


@app.command("cue")
def cue(
    name: Annotated[str, typer.Argument(help="A cue of the running scenario.")],
    data_dir: Annotated[
        Path, typer.Option(help="The running simulator's (or demo's) data dir.")
    ] = Path(".demo"),
) -> None:
    """Training: fire an instructor's cue in the running simulated site."""
    cues = _load("simulate.cues", "dev")
    try:
        cues.send_cue(data_dir, name)
    except cues.CueError as err:
        typer.echo(f"secmon: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(f"cue {name} sent; the simulator plays it within a second")


@report_app.command("incident")
def report_incident(
    ticket_id: Annotated[int, typer.Argument(help="The emergency ticket's id.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf, or FILE.html", dir_okay=False)],
) -> None:
    """The fault analysis report of an emergency ticket (timeline, impact, cause, prevention)."""
    raise typer.Exit(_load("server.reports.commands", "server").incident(ticket_id, out))


@app.command("demo")
def demo(
    port: Annotated[int, typer.Option(help="Server port.")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(".demo"),
    scenario: Annotated[
        str, typer.Option(help="Scenario file, or a shipped one: demo, training.")
    ] = "demo",
    time_scale: Annotated[
        float, typer.Option(help="Timeline times multiplied by this (0.5: twice as fast).")
    ] = 1.0,
) -> None:
    """Run server, a simulated site and an agent together, on an SQLite file."""
    raise typer.Exit(
        _load("demo.runner", "server").run(
            port=port, data_dir=data_dir, scenario=scenario, time_scale=time_scale
        )
    )


if __name__ == "__main__":
    app()


@predict_app.command("backtest")
def predict_backtest(
    csv: Annotated[
        Path,
        typer.Option(
            "--csv", help="Samples: device,ts,check,value[,part][,failed_at].", dir_okay=False
        ),
    ],
    failures: Annotated[
        Path | None,
        typer.Option(
            help="Failures: device,failed_at[,cause] (or a failed_at column).", dir_okay=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Replay a fleet's samples through the forecast models and score the preventive tickets."""
    raise typer.Exit(
        _load("server.predict.commands", "server").backtest(csv, failures, as_json=as_json)
    )
