"""The PostgreSQL fallback for machines without a server on 127.0.0.1:5432: a throwaway cluster
made with initdb must carry the schema and be gone afterwards."""

import pytest
from sqlalchemy import func, select

from peers.postgres import SYSTEM_PORT, PostgresServer, PostgresUnavailableError
from peers.server import provision
from server import migrate
from server.db import make_engine
from server.models import Device


@pytest.mark.postgres
def test_throwaway_cluster_carries_the_schema_and_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECMON_TEST_POSTGRES", "cluster")
    try:
        pg = PostgresServer()
    except PostgresUnavailableError as err:
        pytest.skip(f"cannot make a throwaway cluster here: {err}")
    try:
        assert pg.port != SYSTEM_PORT
        url = pg.create_database()
        migrate.upgrade(database_url=url)
        provision(url, devices=["cam-1", "cam-2"])
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Device)) == 2
        engine.dispose()
        cluster_dir = pg.cluster_dir
    finally:
        pg.close()
    assert cluster_dir is not None
    assert not cluster_dir.exists()
