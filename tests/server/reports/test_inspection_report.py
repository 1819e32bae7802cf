"""The signed inspection record as HTML and as PDF: `pdftotext` of the PDF shows the Chinese
item text, the results, the signatures and the seal."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from server.inspections.evidence import RowResult
from server.inspections.models import Inspection
from server.inspections.record import RowAnswer
from server.inspections.store import (
    Signature,
    amend,
    answer,
    complete,
    generate_all,
    rows_of,
    sign,
)
from server.inspections.template import Contracts, shipped_template
from server.reports.record import load_record
from server.reports.render import inspection_html
from tests.peers.browser import SHOTS_ENV
from tests.server.inspections.test_store import NOW, _session, site

__all__ = ["site"]  # the fixture, shared with the store tests


def _signed(database_url: str) -> int:
    with _session(database_url) as session:
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        inspection = session.scalars(select(Inspection)).one()
        rows = rows_of(session=session, inspection_id=inspection.id)
        answers = [
            RowAnswer(r.id, RowResult.FAIL, "接地电阻偏高 earthing high")
            if r.item_id == "cabling.earthing"
            else RowAnswer(r.id, RowResult.PASS, None)
            for r in rows
            if r.prefill not in ("pass", "fail")
        ]
        answer(session=session, inspection=inspection, answers=answers, author="li", now=NOW)
        complete(session=session, inspection=inspection, now=NOW)
        sign(
            session=session,
            inspection=inspection,
            who="technician",
            signature=Signature("李工", "技术员"),
            now=NOW,
        )
        sign(
            session=session,
            inspection=inspection,
            who="client",
            signature=Signature("王芳", "物业经理"),
            now=NOW,
        )
        earthing = next(r.id for r in rows if r.item_id == "cabling.earthing")
        amend(
            session=session,
            inspection=inspection,
            row_id=earthing,
            result=RowResult.PASS,
            note=None,
            reason="复测合格 retested",
            author="li",
            now=NOW,
        )
        session.commit()
        return inspection.id


def test_html_record_shows_rows_evidence_amendment_signatures_and_seal(
    database_url: str, site: dict[str, int]
) -> None:
    iid = _signed(database_url)
    with _session(database_url) as session:
        inspection = session.get(Inspection, iid)
        assert inspection is not None
        record = load_record(session=session, inspection=inspection)
        html = inspection_html(record)
    assert record.intact is True
    assert [a.zh for a in record.areas] == [
        "前端设备运行状况",
        "管线情况",
        "中心控制设备运行状况",
        "系统功能及技术指标",
    ]
    assert "防雷接地情况" in html
    assert "接地电阻偏高 earthing high" in html
    assert "复测合格 retested" in html  # the amendment beside the original
    assert "王芳 (物业经理)" in html
    assert inspection.seal_sha256 is not None
    assert inspection.seal_sha256 in html
    assert "Up 91.67%" in html  # nvr-1: 6 h down of 72 h
    assert record.counts["fail"] >= 2


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_record_holds_the_chinese_item_text_and_the_seal(
    database_url: str, site: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid = _signed(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "record.pdf"
    result = CliRunner().invoke(app, ["report", "inspection", str(iid), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    for words in ("安防工程维护工作检测记录表", "防雷接地情况", "摄像机在线率", "王芳", "合格"):
        assert words in text, words
    with _session(database_url) as session:
        inspection = session.get(Inspection, iid)
        assert inspection is not None
        seal = inspection.seal_sha256
    assert seal is not None
    assert seal[:16] in text.replace("\n", "").replace(" ", "")
    # Page 1 as a picture (for the README), kept when $SECMON_SCREENSHOTS_DIR is set.
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(out),
            str(tmp_path / "inspection-record"),
        ],
        check=True,
    )
    target = os.environ.get(SHOTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "inspection-record.png", Path(target) / "inspection-record.png")
    missing = CliRunner().invoke(app, ["report", "inspection", "999999", "--out", str(out)])
    assert missing.exit_code == 2
