"""The input rules every entry point shares: API bodies and paths, console forms, agent ingest.

Each rule is a pydantic annotation or a pure function, so a field states its rule where it is
declared and a refusal names the field. What they guard against, each seen as a server error:
timestamps whose UTC conversion overflows, numbers as timestamps or "yes" as a boolean (lenient
coercion), integers past a 64-bit column, NUL and control characters (PostgreSQL refuses NUL in
text), and timestamps far from the server's clock (one sample dated 2999 would pin a device's
state; one dated 1526 would start an SLA clock five centuries ago).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictBool

DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1

# A row id in a path, query or body: a positive 64-bit integer, as the columns hold.
RowId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
DbInt = Annotated[int, Field(ge=DB_INT_MIN, le=DB_INT_MAX)]


def row_id(text: str | None) -> int | None:
    """A row id written in a form field, or None when the text is not one (ASCII digits only,
    within the column's range)."""
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= DB_INT_MAX else None


Bool = StrictBool

# C0 controls and DEL; text may keep tab and line breaks, a line may not.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")


def control_problem(value: str, *, multiline: bool) -> str | None:
    """Why `value` is refused as text, or None: a control character (NUL included)."""
    pattern = _CONTROL_IN_TEXT if multiline else _CONTROL_IN_LINE
    found = pattern.search(value)
    if found is None:
        return None
    return f"control character U+{ord(found.group()):04X} at position {found.start()}"


def name_problem(value: str, *, max_length: int) -> str | None:
    """Why `value` is refused as a name (of a user, client or site), or None: empty, longer
    than its column, or holding a control character. For entries that are not pydantic models
    (the admin commands and the functions behind them)."""
    if not value.strip():
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    return control_problem(value, multiline=False)


def check_text(value: str) -> str:
    """`value`, or ValueError naming its first control character (tab and breaks allowed)."""
    problem = control_problem(value, multiline=True)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_line(value: str) -> str:
    """`value`, or ValueError naming its first control character."""
    problem = control_problem(value, multiline=False)
    if problem is not None:
        raise ValueError(problem)
    return value


# Free text (notes, symptoms, messages): tabs and line breaks allowed, other controls refused.
Text = Annotated[str, AfterValidator(check_text)]
# One line (names, usernames, contacts, identifiers): no control character at all.
Line = Annotated[str, AfterValidator(check_line)]


def clean_text(value: str, *, limit: int) -> str:
    """What a device said, made fit to send: controls become U+FFFD, cut to `limit` chars.
    For text the agent did not write itself (firmware messages), which must not poison a batch."""
    return _CONTROL_IN_TEXT.sub("\ufffd", value)[:limit]


def _cleaned(value: Any) -> Any:
    return _CONTROL_IN_TEXT.sub("\ufffd", value) if isinstance(value, str) else value


# What a device reports about itself (identity, event kinds): cleaned, never refused, so that
# firmware garbage neither fails a poll on the agent nor reaches the database as NUL.
DeviceText = Annotated[str, BeforeValidator(_cleaned)]


def _not_a_number(value: Any) -> Any:
    """Epoch numbers are refused: a timestamp is an ISO 8601 string with its offset."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a timestamp is an ISO 8601 string with an offset, not a number")
    return value


def _to_utc(ts: datetime) -> datetime:
    try:
        return ts.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("timestamp is outside the years 1-9999 in UTC") from err


# Timestamps carry a zone and are kept in UTC, whose tzinfo compares and formats in C
# (pydantic's own tzinfo makes every comparison a Python call: ten times slower in ingest).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_to_utc)]


@dataclass(frozen=True)
class TimeWindow:
    """How far from the server's clock a reported time may lie (settings give the spans)."""

    past: timedelta
    future: timedelta

    def problem(self, ts: datetime, now: datetime) -> str | None:
        """Why `ts` is refused at `now`, or None."""
        if ts < now - self.past:
            return f"timestamp {ts.isoformat()} is more than {self.past} before server time"
        if ts > now + self.future:
            return f"timestamp {ts.isoformat()} is more than {self.future} after server time"
        return None


DEFAULT_WINDOW = TimeWindow(past=timedelta(days=30), future=timedelta(minutes=10))
