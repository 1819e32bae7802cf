"""The forecast chart is well-formed SVG carrying the series, the fit, the threshold and the
projected date where the evidence has them."""

import xml.etree.ElementTree as ET

from server.predict.chart import HEIGHT, PAD, render_svg
from server.predict.evidence import Evidence, Verdict
from server.predict.models import judge_samples
from server.predict.rollup import date_of
from server.predict.signals import Model, Signal
from tests.server.predict.series import DAY0, daily

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_trend_chart_has_series_fit_threshold_and_date() -> None:
    evidence = judge_samples(
        "host.disk.sda.celsius", daily([40 + 0.5 * i for i in range(40)]), today=DAY0 + 39
    )
    assert evidence is not None
    assert evidence.projected_day is not None
    root = parse(render_svg(evidence))
    series = root.find("svg:polyline[@class='series']", NS)
    assert series is not None
    assert len(series.attrib["points"].split()) == len(evidence.days) == 30
    assert root.find("svg:line[@class='fit']", NS) is not None
    threshold = root.find("svg:line[@class='threshold']", NS)
    assert threshold is not None
    # The threshold is the top of the chart: 65 °C is above every value.
    assert float(threshold.attrib["y1"]) == PAD
    texts = [t.text for t in root.findall("svg:text", NS)]
    assert date_of(evidence.projected_day).isoformat() in texts
    title = root.find("svg:title", NS)
    assert title is not None
    assert title.text == evidence.en


def test_chart_without_series_is_an_empty_frame_with_the_reason() -> None:
    evidence = Evidence(
        check="c<1>",
        signal=Signal.TEMPERATURE,
        model=Model.TREND,
        verdict=Verdict.NO_DATA,
        at_day=DAY0,
        en="No forecast for c<1>",
    )
    root = parse(render_svg(evidence))
    assert root.find("svg:polyline", NS) is None
    title = root.find("svg:title", NS)
    assert title is not None
    assert title.text == "No forecast for c<1>"
    assert int(root.attrib["height"]) == HEIGHT


def test_chart_labels_its_value_range_and_keeps_a_late_date_inside() -> None:
    evidence = judge_samples(
        "host.disk.sda.celsius", daily([40 + 0.5 * i for i in range(40)]), today=DAY0 + 39
    )
    assert evidence is not None
    assert evidence.projected_day is not None
    root = parse(render_svg(evidence))
    axis = [t.text for t in root.findall("svg:text[@class='axis']", NS)]
    # Highest shown is the 65 °C limit, lowest the first value of the window, then day one.
    assert axis == ["65", f"{evidence.values[0]:.4g}", date_of(evidence.days[0]).isoformat()]
    date = next(
        t
        for t in root.findall("svg:text", NS)
        if t.text == date_of(evidence.projected_day).isoformat()
    )
    # The projected date is the chart's right end: anchored there, not centred past the edge.
    assert date.attrib["text-anchor"] == "end"
