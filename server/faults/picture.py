"""The measures behind a `camera.image_abnormal` fault, for the ticket: the agent sends them as
`camera.image_abnormal.evidence` in a snapshot's checks (`covered: covered_share=0.93
edge_ratio=0.14 brightness_ratio=0.59 snapshots=2; moved: ...`); here they are read back and
put in words ("covered: structure lost in 93 % of the structured blocks; edge density 14 % of
baseline; brightness -41 %"). `docs/picture-health.md` says what each measure is.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from math import isfinite

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.faults.rules import FaultCode
from server.models import FaultEpisode, SampleRow, Ticket

EVIDENCE_CHECK = f"{FaultCode.CAMERA_IMAGE_ABNORMAL.value}.evidence"
# Snapshots read after the first failure to find the one that gave the reasons (a verdict
# needs two or three in a row; snapshots are minutes apart among other polls' samples).
SCAN_SAMPLES = 200


@dataclass(frozen=True, slots=True)
class ReasonEvidence:
    reason: str
    measures: dict[str, float]
    text: str  # the measures in words, for the ticket


def _pct(v: float) -> str:
    return f"{round(v * 100):d} %"


def _change(v: float) -> str:
    return f"{round((v - 1) * 100):+d} %"


# Measure → its words; the order is the order on the ticket.
WORDS: dict[str, Callable[[float], str]] = {
    "dark_fraction": lambda v: f"{_pct(v)} of the picture near black",
    "luma_mean": lambda v: f"mean brightness {v:.0f}/255",
    "covered_share": lambda v: f"structure lost in {_pct(v)} of the structured blocks",
    "flat_fraction": lambda v: f"{_pct(v)} of the picture flat",
    "structure_ratio": lambda v: f"contrast kept {_pct(v)} of baseline",
    "edge_ratio": lambda v: f"edge density {_pct(v)} of baseline",
    "texture_ratio": lambda v: f"structured blocks {_pct(v)} of baseline",
    "brightness_ratio": lambda v: f"brightness {_change(v)}",
    "scene_match": lambda v: f"scene match {v:.2f} (1: the learned view)",
    "sharpness_ratio": lambda v: f"sharpness {_pct(v)} of baseline",
    "detail_ratio": lambda v: f"fine detail {_pct(v)} of baseline",
    "frame_change": lambda v: f"frame change {v:g}",
    "frozen_below": lambda v: f"frozen below {v:g}",
    "unchanged_snapshots": lambda v: f"{v:.0f} unchanged snapshots in a row",
    "colour_cast": lambda v: f"colour shift {v:.1f}",
    "saturation": lambda v: f"saturation {v:.1f}",
    "snapshots": lambda v: f"{v:.0f} snapshots in a row",
}


def parse(evidence: str) -> list[ReasonEvidence]:
    """The reasons and measures of one evidence check; parts that do not read are left out
    (the check is text from an agent, possibly of another version)."""
    found = []
    for part in evidence.split(";"):
        reason, sep, rest = part.partition(":")
        reason = reason.strip()
        if not sep or not reason:
            continue
        measures: dict[str, float] = {}
        for item in rest.split():
            name, eq, value = item.partition("=")
            try:
                measures[name] = float(value) if eq else float("nan")
            except ValueError:
                continue
        # NaN: no value given; inf is no measure either (and has no words)
        measures = {k: v for k, v in measures.items() if isfinite(v)}
        found.append(ReasonEvidence(reason, measures, describe(reason, measures)))
    return found


def measures_text(measures: dict[str, float]) -> str:
    """The measures in words, in ticket order; measures we have no words for by name."""
    known = [WORDS[k](measures[k]) for k in WORDS if k in measures]
    other = [f"{k} {v:g}" for k, v in measures.items() if k not in WORDS]
    return "; ".join(known + other)


def describe(reason: str, measures: dict[str, float]) -> str:
    said = measures_text(measures)
    return f"{reason}: {said}" if said else reason


def ticket_evidence(
    *, session: Session, ticket: Ticket
) -> tuple[datetime | None, list[ReasonEvidence]]:
    """The first snapshot since the ticket's first failure whose picture was judged abnormal,
    and its reasons with their measures; nothing for other faults."""
    if ticket.code != FaultCode.CAMERA_IMAGE_ABNORMAL or ticket.device_id is None:
        return None, []
    rows = session.execute(
        select(SampleRow.ts, SampleRow.checks)
        .where(SampleRow.device_id == ticket.device_id, SampleRow.ts >= ticket.first_failure_at)
        .order_by(SampleRow.ts)
        .limit(SCAN_SAMPLES)
    ).all()
    for ts, checks in rows:
        evidence = checks.get(EVIDENCE_CHECK) if isinstance(checks, dict) else None
        if isinstance(evidence, str) and evidence:
            return ts, parse(evidence)
    return None, []


def episode_evidence(
    *, session: Session, episode_ids: Sequence[int], until: datetime
) -> dict[int, tuple[datetime, list[ReasonEvidence]]]:
    """Per `camera.image_abnormal` episode: the first snapshot from its start (to its recovery,
    or `until`) that carries evidence, with its reasons. One query for all the episodes; an
    episode whose samples are pruned (or never carried evidence) is missing from the answer."""
    if not episode_ids:
        return {}
    evidence = SampleRow.checks[EVIDENCE_CHECK].as_string()
    ranked = (
        select(
            FaultEpisode.id.label("episode_id"),
            SampleRow.ts,
            evidence.label("evidence"),
            func.row_number().over(partition_by=FaultEpisode.id, order_by=SampleRow.ts).label("n"),
        )
        .join(SampleRow, SampleRow.device_id == FaultEpisode.device_id)
        .where(
            FaultEpisode.id.in_(episode_ids),
            FaultEpisode.code == FaultCode.CAMERA_IMAGE_ABNORMAL.value,
            SampleRow.ts >= FaultEpisode.started_at,
            SampleRow.ts < until,
            or_(FaultEpisode.recovered_at.is_(None), SampleRow.ts <= FaultEpisode.recovered_at),
            evidence.is_not(None),
            evidence != "",
        )
        .subquery()
    )
    return {
        episode_id: (ts, parse(text))
        for episode_id, ts, text in session.execute(
            select(ranked.c.episode_id, ranked.c.ts, ranked.c.evidence).where(ranked.c.n == 1)
        )
    }
