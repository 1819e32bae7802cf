"""The shipped checklist and a contract's changes to it, with errors naming file and line."""

from pathlib import Path

import pytest

from configfile import ConfigError
from server.inspections.template import (
    Area,
    Cycle,
    load_contract_template,
    load_contracts,
    shipped_template,
)


def test_shipped_template_covers_the_four_areas_in_both_languages() -> None:
    template = shipped_template()
    assert template.cycle is Cycle.MONTHLY
    assert {i.area for i in template.items} == set(Area)
    by_id = {i.id: i for i in template.items}
    assert by_id["cabling.earthing"].text.zh_cn == "防雷接地情况"
    assert by_id["central.playback"].evidence is None  # a person judges playback clarity
    assert by_id["frontend.camera_online"].evidence is not None
    assert not by_id["system.open_tickets"].classes  # site level


def test_contract_adds_drops_rewords_and_sets_the_cycle(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        "cycle: quarterly\n"
        "due_days: 20\n"
        "drop: [cabling.shielding]\n"
        "reword: {central.playback: {zh-CN: 回放清晰度 抽查3路, en: Playback (3 channels)}}\n"
        "add:\n"
        "  - id: custom.gate\n"
        "    area: frontend\n"
        "    classes: [sensor]\n"
        "    text: {zh-CN: 道闸, en: Gate barrier}\n",
        encoding="utf-8",
    )
    template = load_contract_template(path)
    ids = [i.id for i in template.items]
    assert template.cycle is Cycle.QUARTERLY
    assert template.due_days == 20
    assert "cabling.shielding" not in ids
    assert ids[-1] == "custom.gate"
    assert template.item("central.playback") is not None
    assert template.item("central.playback").text.en == "Playback (3 channels)"  # type: ignore[union-attr]
    assert len(ids) == len(shipped_template().items)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("cycle: monthly\ndrop: [cabling.nothing]\n", 2, "drop[0]", "unknown item id"),
        ("cycle: daily\n", 1, "cycle", "monthly"),
        (
            "add:\n  - id: custom.x\n    area: roof\n    text: {zh-CN: 屋顶, en: Roof}\n",
            3,
            "add[0].area",
            "frontend",
        ),
        (
            "add:\n  - id: cabling.earthing\n    area: cabling\n    text: {zh-CN: 接地, en: E}\n",
            2,
            "add[0].id",
            "already exists",
        ),
        (
            "add:\n  - id: custom.y\n    area: system\n"
            "    evidence: {rule: no_open_fault, codes: [camera.melted]}\n"
            "    text: {zh-CN: 某, en: Y}\n",
            4,
            "add[0].evidence.no_open_fault.codes[0]",
            "camera.stream_down",
        ),
    ],
)
def test_bad_contract_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = tmp_path / "client.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_contract_template(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.path) == (str(path), line, field)
    assert words in problem.message


def test_contracts_directory_reports_every_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("drop: [nope.x]\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("cycle: weekly\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("due_days: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_contracts(tmp_path)
    assert sorted(Path(p.file).name for p in caught.value.problems) == ["a.yaml", "c.yaml"]
    (tmp_path / "a.yaml").unlink()
    (tmp_path / "c.yaml").unlink()
    contracts = load_contracts(tmp_path)
    assert contracts.for_client("b").cycle is Cycle.WEEKLY
    assert contracts.for_client("other") is contracts.base
