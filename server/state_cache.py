"""Device states this process wrote last, reused while the row still carries the same version.

Decoding a device's state (check map JSON, timestamps) costs more than the rest of ingest for
it. A state row's `last_sample_id` identifies its content: only the application of a batch whose
newest sample is that id writes it, and a re-sent batch writes nothing. So when the row's id
equals the cached one, the cached state is the row, on any number of replicas. Entries are put
only after commit, so a rolled-back write is never remembered.
"""

import threading
from collections.abc import Mapping
from uuid import UUID

from server.state import CurrentState

MAX_ENTRIES = 200_000


class StateCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._states: dict[int, CurrentState] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, device_id: int, last_sample_id: UUID | None) -> CurrentState | None:
        """The cached state if it is still the stored version, else None."""
        if last_sample_id is None:
            return None
        with self._lock:
            state = self._states.get(device_id)
        if state is None or state.last_sample_id != last_sample_id:
            return None
        return state

    def put_many(self, states: Mapping[int, CurrentState]) -> None:
        with self._lock:
            if len(self._states) + len(states) > self._max:
                self._states.clear()
            self._states.update(states)
