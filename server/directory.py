"""Device database ids by (site, agent device id), remembered across ingest batches.

A device row keeps its id for life and this server never deletes or moves devices, so a hit
can be trusted; only misses go to the database. Whoever adds device deletion must call
`forget_site`. Keyed by site, so a token still only resolves its own site's devices.
"""

import threading
from collections.abc import Iterable

from sqlalchemy import Connection, select

from server.models import Device

MAX_ENTRIES = 200_000


class DeviceDirectory:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._pks: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def resolve(self, *, conn: Connection, site_id: int, ext_ids: Iterable[str]) -> dict[str, int]:
        """ext id → device pk for those registered under `site_id`; unknown ones are absent."""
        found: dict[str, int] = {}
        missing: list[str] = []
        with self._lock:
            for ext_id in ext_ids:
                pk = self._pks.get((site_id, ext_id))
                if pk is None:
                    missing.append(ext_id)
                else:
                    found[ext_id] = pk
        if missing:
            rows = conn.execute(
                select(Device.ext_id, Device.id).where(
                    Device.site_id == site_id, Device.ext_id.in_(missing)
                )
            ).all()
            with self._lock:
                if len(self._pks) + len(rows) > self._max:
                    self._pks.clear()
                for row in rows:
                    self._pks[(site_id, row.ext_id)] = row.id
                    found[row.ext_id] = row.id
        return found

    def forget_site(self, site_id: int) -> None:
        with self._lock:
            for key in [k for k in self._pks if k[0] == site_id]:
                del self._pks[key]
