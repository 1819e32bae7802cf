"""Shared fixtures: free ports, a PostgreSQL per session, `database_url` over both databases,
and the real server as a subprocess (`server_factory`). The peers live in the top-level `peers/`
package so the benchmarks can use them too; test-only peers stay in `tests/peers/`."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peers.postgres import PostgresServer, PostgresUnavailableError
from peers.server import ServerProcess
from server.notify import hooks as notify_hooks
from simulate.peers.net import free_port as _free_port


@pytest.fixture(autouse=True)
def _notify_config_forgotten() -> Iterator[None]:
    """A notify config a test (or an app it built) installed stays with that test."""
    yield
    notify_hooks.use_config(None)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a free loopback port (as many as you need)."""
    return _free_port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The machine's PostgreSQL on 127.0.0.1:5432, or a throwaway initdb cluster."""
    try:
        server = PostgresServer()
    except PostgresUnavailableError as err:
        pytest.skip(f"PostgreSQL unavailable: {err}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'secmon.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite and once on PostgreSQL (not yet migrated)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'secmon.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(
    scope="module",
    params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database shared by a module's tests, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'secmon.db'}"
        return
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    url = pg.create_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`server_factory(database_url, **kw)` → a migrated, started ServerProcess (stopped at the
    end of the test)."""
    started: list[ServerProcess] = []

    def make(database_url: str, **kwargs: object) -> ServerProcess:
        kwargs.setdefault("workdir", tmp_path / f"server{len(started)}")
        server = ServerProcess(database_url, **kwargs)  # type: ignore[arg-type]  # passthrough
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
