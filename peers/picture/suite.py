"""The scene suite: sequences of snapshots from `scenes.Camera` (normal runs, day/IR switches, a
legitimate re-aim with an operator re-learn, tampering from a known onset) and how an analyser is
scored on them. Shared by the tests and `bench/onvif_picture.py`, which scores two analysers."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from peers.picture.scenes import ALSO_ACCEPTED, EXPECTED_REASON, Camera, Kind, Tamper

LEARN = 12  # normal snapshots before tampering starts (the baseline needs 8)
LATENCY_MAX = 2  # detected by the third tampered snapshot at the latest


@dataclass(frozen=True)
class Shot:
    """One poll: which snapshot of the camera, and what is done to it."""

    index: int
    tamper: Tamper | None = None
    ir: bool = False
    relearn: bool = False  # the operator asks for a re-learn just before this snapshot


@dataclass(frozen=True)
class Sequence:
    name: str
    camera: Camera
    shots: tuple[Shot, ...]
    onset: int | None = None  # position of the first tampered shot
    expected: str | None = None  # the reason tampering must give
    accepted: frozenset[str] = frozenset()  # every reason that counts as caught

    def frames(self) -> Iterator[tuple[Shot, bytes]]:
        frozen_at = None if self.onset is None else self.shots[self.onset].index - 1
        for shot in self.shots:
            jpeg = self.camera.snapshot(shot.index, shot.tamper, ir=shot.ir, frozen_at=frozen_at)
            yield shot, jpeg


class Analyser(Protocol):
    """One camera's analyser as the probe drives it: a snapshot in, the reasons out."""

    def observe(self, jpeg: bytes, *, ir: bool | None) -> tuple[str, ...]: ...

    def relearn(self) -> None: ...


def normal(kind: Kind, seed: int, count: int = 200, size: tuple[int, int] = (320, 180)) -> Sequence:
    ir = kind is Kind.IR
    shots = tuple(Shot(i, ir=ir) for i in range(count))
    return Sequence(f"normal/{kind}/{seed}", Camera(kind, seed, size), shots)


def day_ir_switch(seed: int, size: tuple[int, int] = (320, 180)) -> Sequence:
    """An outdoor colour camera through dusk (IR on), the night, and dawn (IR off), twice."""
    shots = tuple(Shot(i, ir=(i // 60) % 2 == 1) for i in range(240))
    return Sequence(f"switch/outdoor/{seed}", Camera(Kind.OUTDOOR, seed, size), shots)


def relearn(kind: Kind, seed: int, size: tuple[int, int] = (320, 180)) -> Sequence:
    """The installer re-aims the camera on purpose and the operator asks for a re-learn."""
    ir = kind is Kind.IR
    before = tuple(Shot(i, ir=ir) for i in range(40))
    after = tuple(Shot(i, Tamper.TURNED, ir=ir, relearn=i == 40) for i in range(40, 200))
    return Sequence(f"relearn/{kind}/{seed}", Camera(kind, seed, size), before + after)


def tampered(
    kind: Kind, seed: int, tamper: Tamper, length: int = 6, size: tuple[int, int] = (320, 180)
) -> Sequence:
    ir = kind is Kind.IR
    shots = tuple(Shot(i, ir=ir) for i in range(LEARN)) + tuple(
        Shot(i, tamper, ir=ir) for i in range(LEARN, LEARN + length)
    )
    return Sequence(
        f"{tamper}/{kind}/{seed}",
        Camera(kind, seed, size),
        shots,
        onset=LEARN,
        expected=EXPECTED_REASON[tamper],
        accepted=frozenset({EXPECTED_REASON[tamper]}) | ALSO_ACCEPTED.get(tamper, frozenset()),
    )


@dataclass
class Score:
    """Per expected reason: episodes caught in time, tampered snapshots flagged, latencies; and
    normal snapshots flagged (false alarms) with what they were flagged as."""

    episodes: int = 0
    caught: int = 0  # within LATENCY_MAX of onset
    latencies: list[int] = field(default_factory=list)
    tampered_shots: int = 0
    flagged_shots: int = 0
    normal_shots: int = 0
    false_alarms: int = 0
    false_reasons: dict[str, int] = field(default_factory=dict)


def run(sequence: Sequence, analyser: Analyser) -> list[tuple[str, ...]]:
    out = []
    for shot, jpeg in sequence.frames():
        if shot.relearn:
            analyser.relearn()
        out.append(analyser.observe(jpeg, ir=shot.ir))
    return out


def score(sequence: Sequence, verdicts: list[tuple[str, ...]], scores: dict[str, Score]) -> None:
    """Adds one sequence's verdicts to `scores` (keyed by expected reason, "normal" for runs
    without tampering; false alarms are counted under the normal runs' key)."""
    key = sequence.expected or "normal"
    s = scores.setdefault(key, Score())
    onset = len(verdicts) if sequence.onset is None else sequence.onset
    normal_part = scores.setdefault("normal", Score())
    for reasons in verdicts[:onset]:
        normal_part.normal_shots += 1
        if reasons:
            normal_part.false_alarms += 1
            for r in reasons:
                normal_part.false_reasons[r] = normal_part.false_reasons.get(r, 0) + 1
    if sequence.onset is None:
        return
    s.episodes += 1
    hits = [i for i, reasons in enumerate(verdicts[onset:]) if sequence.accepted & set(reasons)]
    if hits:
        s.latencies.append(hits[0])
    if hits and hits[0] <= LATENCY_MAX:
        s.caught += 1
    s.tampered_shots += len(verdicts) - onset
    s.flagged_shots += len(hits)
