"""Server settings, read once at start from environment variables (pydantic-settings)."""

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, DirectoryPath, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from wire.validation import TimeWindow

DEFAULT_DATABASE_URL = "sqlite:///./secmon.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything the server reads from its environment; `SECMON_` prefix except DATABASE_URL."""

    model_config = SettingsConfigDict(env_prefix="SECMON_", extra="ignore", frozen=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "SECMON_DATABASE_URL"),
    )
    environment: Environment = Environment.DEVELOPMENT
    # Echoed by /healthz, so whoever started this server (the demo) knows it is the one answering.
    instance: str = ""
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    retention_days: int = Field(default=30, ge=1)
    prune_interval_seconds: float = Field(default=3600.0, gt=0)
    # Ingest bodies: the compressed size is checked while reading, the inflated size while
    # inflating, so a gzip bomb is cut off after max_decompressed_bytes.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_decompressed_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    access_token_minutes: int = Field(default=60, ge=1)
    # Times the server takes from agents and users (samples, events, a call's occurred_at)
    # must lie within this window around its clock; outside, they are refused with a reason.
    timestamp_max_age_days: float = Field(default=30.0, gt=0)
    timestamp_max_ahead_seconds: float = Field(default=600.0, ge=0)
    # How long an SQLite writer waits for the lock before ingest answers 503 + Retry-After.
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # Notification chains, teams, rotas and channels (server/notify/config.py); none: no messages.
    notify_config: Path | None = None
    notify_worker: bool = True
    # Fault detection: how often the sweep runs (agents gone quiet, held faults, recovered
    # tickets past their quiet period) and how long a site's agent may be silent.
    # An operator's changes to the shipped fault rules and severities (server/faults/config.py).
    fault_rules: Path | None = None
    fault_sweep_seconds: float = Field(default=5.0, gt=0)
    agent_offline_seconds: float = Field(default=180.0, gt=0)
    # KPI targets in percent, each KPI against its own (server/tickets/kpis.py `KpiTargets`).
    kpi_target_response_timeliness: float = Field(default=90.0, ge=0, le=100)
    kpi_target_on_site_timeliness: float = Field(default=90.0, ge=0, le=100)
    kpi_target_repair_success: float = Field(default=95.0, ge=0, le=100)
    kpi_target_satisfaction: float = Field(default=85.0, ge=0, le=100)
    kpi_target_record_completeness: float = Field(default=100.0, ge=0, le=100)
    # Status page: how often today's (and any missing day's) uptime rollup is recomputed.
    status_rollup_seconds: float = Field(default=60.0, gt=0)
    # Predictive maintenance: daily rollups of numeric checks, kept this many days, and how
    # often today's rollup is recomputed.
    predict_history_days: int = Field(default=400, ge=30)
    predict_rollup_seconds: float = Field(default=300.0, gt=0)
    # Days back a recorder's footage must reach; the `retention` forecast warns before less.
    predict_retention_days: float = Field(default=30.0, gt=0)
    # Inspections: a directory of `<client name>.yaml` contract templates (server/inspections/
    # template.py) and how often inspections are generated and pre-filled.
    inspection_contracts: Path | None = None
    inspection_seconds: float = Field(default=600.0, gt=0)
    # Training: the data dir of a running `secmon simulate` (an existing directory, checked at
    # start); the console's Training page lets a manager fire that scenario's cues.
    training_dir: DirectoryPath | None = None

    @property
    def time_window(self) -> TimeWindow:
        return TimeWindow(
            past=timedelta(days=self.timestamp_max_age_days),
            future=timedelta(seconds=self.timestamp_max_ahead_seconds),
        )
