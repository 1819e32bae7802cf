"""Fixtures the end-to-end tests share: the database engine, the agents a test starts (killed
if still running at the end) and a Mosquitto on a free port."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from peers.site import AgentProcess
from simulate.peers.mosquitto import MosquittoServer


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    """Append each started agent; those still running at the end are killed."""
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()


@pytest.fixture
def broker() -> Iterator[MosquittoServer]:
    server = MosquittoServer().start()
    try:
        yield server
    finally:
        server.close()
