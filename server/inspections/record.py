"""The inspection's life and its seal. Pure.

open → completed (every row answered) → tech_signed → signed (the client). Rows change only
while open; after the client signs the record is sealed: a SHA-256 over its canonical content
(header, every row as answered, both signatures), which `verify` recomputes.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from server.inspections.evidence import RowResult


class InspectionState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    TECH_SIGNED = "tech_signed"
    SIGNED = "signed"


class Disposition(StrEnum):
    """What the technician did about a fault the row found (seed §4.2: cleared on the spot)."""

    CLEARED = "cleared"  # cleared on the spot
    TICKET = "ticket"  # a ticket is opened for the repair


# What a technician may record on a row (unknown is the pre-fill's word, not an answer).
ANSWERS = frozenset({RowResult.PASS, RowResult.FAIL, RowResult.NOT_APPLICABLE})


class RecordError(ValueError):
    """A change the record's content does not allow (bad input); the message says why."""


class RecordStateError(RecordError):
    """A change the record's state does not allow (signed twice, edited after sign-off)."""


@dataclass(frozen=True)
class RowAnswer:
    row_id: int
    result: RowResult
    note: str | None
    disposition: Disposition | None = None


def parse_disposition(value: str | None) -> Disposition | None:
    if value is None or value == "":
        return None
    try:
        return Disposition(value)
    except ValueError:
        allowed = ", ".join(d.value for d in Disposition)
        raise RecordError(f"disposition {value!r} is not one of {allowed}") from None


def parse_result(value: str) -> RowResult:
    try:
        result = RowResult(value)
    except ValueError:
        allowed = ", ".join(sorted(a.value for a in ANSWERS))
        raise RecordError(f"result {value!r} is not one of {allowed}") from None
    if result not in ANSWERS:
        allowed = ", ".join(sorted(a.value for a in ANSWERS))
        raise RecordError(f"result {value!r} is not one of {allowed}")
    return result


def check_editable(state: InspectionState) -> None:
    if state is not InspectionState.OPEN:
        raise RecordStateError(f"the inspection is {state.value}: rows change only by amendment")


def check_answers(answers: Sequence[RowAnswer], known_rows: Mapping[int, str]) -> None:
    """Every answered row belongs to this inspection; a fail needs a note saying what was seen."""
    unknown = sorted(a.row_id for a in answers if a.row_id not in known_rows)
    if unknown:
        raise RecordError(f"no such row in this inspection: {', '.join(map(str, unknown))}")
    bare = [
        known_rows[a.row_id]
        for a in answers
        if a.result is RowResult.FAIL and not (a.note or "").strip()
    ]
    if bare:
        raise RecordError(f"a failed row needs a note: {', '.join(bare)}")
    stray = [
        known_rows[a.row_id]
        for a in answers
        if a.disposition is not None and a.result is not RowResult.FAIL
    ]
    if stray:
        raise RecordError(f"only a failed row is cleared or ticketed: {', '.join(stray)}")


def check_complete(state: InspectionState, blank: Sequence[str]) -> None:
    """Completion needs every row answered; the message names the blank rows."""
    check_editable(state)
    if blank:
        shown = ", ".join(blank[:20]) + (f" and {len(blank) - 20} more" if len(blank) > 20 else "")
        raise RecordError(f"{len(blank)} row(s) not answered: {shown}")


def check_sign(state: InspectionState, who: str) -> InspectionState:
    """The next state when `who` (technician or client) signs, in that order, each once."""
    if who == "technician":
        if state is InspectionState.COMPLETED:
            return InspectionState.TECH_SIGNED
        raise RecordStateError(
            "the technician has already signed"
            if state in (InspectionState.TECH_SIGNED, InspectionState.SIGNED)
            else "complete every row before signing"
        )
    if state is InspectionState.TECH_SIGNED:
        return InspectionState.SIGNED
    raise RecordStateError(
        "the client has already signed"
        if state is InspectionState.SIGNED
        else "the technician signs first"
    )


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _when(v) if isinstance(v, datetime) else v for k, v in values.items()}


def canonical(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The signed content as bytes: sorted keys, no whitespace, rows by id, times ISO-8601 UTC."""
    ordered = sorted(rows, key=lambda r: int(r["id"]))
    content = {"header": _plain(header), "rows": [_plain(r) for r in ordered]}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(canonical(header, rows)).hexdigest()
