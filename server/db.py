"""Engine creation: SQLite pragmas, immediate write transactions, dialect-aware inserts."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from server.errors import ConflictError

SQLITE_BUSY_TIMEOUT_MS = 5000
# Connection execution option: begin the SQLite transaction with BEGIN IMMEDIATE, so a
# read-then-write transaction takes the write lock up front instead of failing on upgrade.
IMMEDIATE = "secmon_immediate"

RowT = TypeVar("RowT")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for `url`; on SQLite it creates the file's directory and sets the pragmas.

    `busy_timeout_ms`: how long an SQLite writer waits for the lock before the API answers 503.
    """
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            json_serializer=compact_json,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )

        def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            _sqlite_on_connect(dbapi_connection, record, busy_timeout_ms)

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, json_serializer=compact_json, pool_pre_ping=True)


def _sqlite_on_connect(
    dbapi_connection: Any, _record: ConnectionPoolEntry, busy_timeout_ms: int
) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A Core connection in a transaction that holds the write lock from its start on SQLite."""
    with engine.connect() as conn:
        conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """An ORM session inside `write_transaction`: flushed and committed together on exit."""
    with write_transaction(engine) as conn, Session(bind=conn, expire_on_commit=False) as session:
        yield session
        session.flush()


def insert_for(engine_or_conn: Engine | Connection, table: Table) -> Any:
    """The dialect's INSERT (which has on_conflict_do_nothing / on_conflict_do_update)."""
    if engine_or_conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def add_unique(*, session: Session, row: RowT, conflict: str) -> RowT:
    """Add and flush `row`; a unique constraint it breaks becomes a ConflictError(`conflict`)."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as err:
        raise ConflictError(conflict) from err
    return row
