"""The probe's picture hook: each snapshot judged against its camera's learned baseline
(`BaselineStore`, files in the agent's state directory), with the camera's own `picture:`
thresholds.

Every judged snapshot gives the picture.* check values and `camera.image_abnormal` (true or
false) with its reasons, which is what the server's fault rule reads. When the reasons change
(a camera turns black, or becomes normal again) an event of the same kind as the camera's own
ImageTooDark/TooBlurry notifications is sent with the poll, so the change is in the device's
event history even though checks are only sent on snapshot polls; the event carries the measures
behind each reason (`camera.image_abnormal.evidence` in the checks). The last verdict is kept in
memory: after a restart, a picture still abnormal is reported once more.
"""

import threading

from agent.config import DeviceConfig
from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.options import OnvifOptions
from agent.probes.onvif.probe import PictureReading, Snapshot
from wire.schema import CheckValue, Event

IMAGE_ABNORMAL = "camera.image_abnormal"


class PictureHealth:
    """`PictureHook` over one `BaselineStore`. Runs in worker threads (the probe calls it with
    `asyncio.to_thread`), one call per camera at a time (the probe's per-camera lock)."""

    def __init__(self, store: BaselineStore) -> None:
        self.store = store
        self._reasons: dict[str, tuple[str, ...]] = {}  # last judged reasons per camera
        self._lock = threading.Lock()

    def __call__(self, device: DeviceConfig, snapshot: Snapshot) -> PictureReading:
        options = (device.onvif or OnvifOptions()).picture
        # SnapshotUnreadable (a ProbeFailure) passes: the probe records snapshot.error.
        report = self.store.observe(
            device.id,
            snapshot.data,
            options,
            streaming=snapshot.streaming,
            ir_active=snapshot.ir_active,
        )
        checks: dict[str, CheckValue] = {"picture.ok": True, **report.checks()}
        reasons = tuple(str(r) for r in report.reasons)
        with self._lock:
            before = self._reasons.get(device.id)
            self._reasons[device.id] = reasons
        events: list[Event] = []
        if reasons != (before or ()):
            if reasons:
                data: dict[str, object] = {
                    "active": True,
                    "reasons": list(reasons),
                    "evidence": report.evidence(),  # the measures behind each reason
                }
            else:
                data = {"active": False, "reasons": list(before or ())}
            data["source"] = "snapshot"
            events.append(Event(ts=snapshot.taken_at, kind=IMAGE_ABNORMAL, data=data))
        return PictureReading(checks=checks, events=events)
