"""The inspection's life (answers, completion, two signatures) and its seal. Pure."""

from datetime import UTC, datetime

import pytest

from server.inspections.evidence import RowResult
from server.inspections.record import (
    InspectionState,
    RecordError,
    RowAnswer,
    canonical,
    check_answers,
    check_complete,
    check_sign,
    parse_result,
    seal,
)

S = InspectionState


def test_result_outside_the_answers_is_refused() -> None:
    assert parse_result("not_applicable") is RowResult.NOT_APPLICABLE
    for bad in ("unknown", "ok", ""):
        with pytest.raises(RecordError, match="not one of fail, not_applicable, pass"):
            parse_result(bad)


def test_answers_name_unknown_rows_and_failures_without_a_note() -> None:
    rows = {1: "frontend.lens_ptz@cam-1", 2: "cabling.earthing"}
    check_answers([RowAnswer(1, RowResult.PASS, None)], rows)
    with pytest.raises(RecordError, match="no such row in this inspection: 9"):
        check_answers([RowAnswer(9, RowResult.PASS, None)], rows)
    with pytest.raises(RecordError, match=r"needs a note: cabling\.earthing"):
        check_answers([RowAnswer(2, RowResult.FAIL, "  ")], rows)


def test_completion_names_the_blank_rows() -> None:
    check_complete(S.OPEN, [])
    with pytest.raises(RecordError, match=r"2 row\(s\) not answered: a.b@cam-1, c.d"):
        check_complete(S.OPEN, ["a.b@cam-1", "c.d"])
    with pytest.raises(RecordError, match="only by amendment"):
        check_complete(S.SIGNED, [])


def test_technician_signs_then_the_client_each_once() -> None:
    assert check_sign(S.COMPLETED, "technician") is S.TECH_SIGNED
    assert check_sign(S.TECH_SIGNED, "client") is S.SIGNED
    with pytest.raises(RecordError, match="technician signs first"):
        check_sign(S.COMPLETED, "client")
    with pytest.raises(RecordError, match="complete every row"):
        check_sign(S.OPEN, "technician")
    with pytest.raises(RecordError, match="technician has already signed"):
        check_sign(S.TECH_SIGNED, "technician")
    with pytest.raises(RecordError, match="client has already signed"):
        check_sign(S.SIGNED, "client")


def test_seal_is_order_independent_and_changes_with_any_row() -> None:
    header = {"id": 1, "client_signed_at": datetime(2026, 12, 3, tzinfo=UTC)}
    rows = [{"id": 2, "result": "pass", "text_zh": "管线质量"}, {"id": 1, "result": "fail"}]
    assert seal(header, rows) == seal(header, list(reversed(rows)))
    assert "管线质量".encode() in canonical(header, rows)
    changed = [{"id": 2, "result": "fail", "text_zh": "管线质量"}, {"id": 1, "result": "fail"}]
    assert seal(header, changed) != seal(header, rows)
    assert len(seal(header, rows)) == 64
