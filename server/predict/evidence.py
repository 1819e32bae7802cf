"""What a model concluded and why: the series it read, its fit, the threshold, the projected
date, its confidence, and one sentence in English and Simplified Chinese.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from server.predict.robust import Fit
from server.predict.rollup import Rejected, date_of
from server.predict.signals import Model, Signal


class Verdict(StrEnum):
    # Alarms: a preventive ticket is due.
    RISING_COUNTER = "rising_counter"
    TREND_TO_THRESHOLD = "trend_to_threshold"
    STEP = "step"
    RATE_RISING = "rate_rising"
    INDICATOR = "indicator"
    # Looked, found nothing to act on.
    STABLE = "stable"
    FAR = "far"
    REVERSED = "reversed"
    # Could not look.
    NO_DATA = "no_data"
    TOO_FEW_DAYS = "too_few_days"
    STALE = "stale"


ALARMS: frozenset[Verdict] = frozenset(
    {
        Verdict.RISING_COUNTER,
        Verdict.TREND_TO_THRESHOLD,
        Verdict.STEP,
        Verdict.RATE_RISING,
        Verdict.INDICATOR,
    }
)
UNJUDGED: frozenset[Verdict] = frozenset({Verdict.NO_DATA, Verdict.TOO_FEW_DAYS, Verdict.STALE})

SENTENCES: Mapping[str, Mapping[Verdict, str]] = {
    "en": {
        Verdict.RISING_COUNTER: (
            "{check} rose by {rise:g} on {rise_days} days in the last {window} days; "
            "at this rate it reaches {threshold:g} around {projected}."
        ),
        Verdict.TREND_TO_THRESHOLD: (
            "{check} moves {slope:+.3g} per day (95 % band {low:+.3g} to {high:+.3g}) and "
            "reaches {threshold:g} around {projected} (between {earliest} and {latest})."
        ),
        Verdict.STEP: (
            "{check} stepped from {before:g} to {after:g} on {step_date} and stayed there."
        ),
        Verdict.RATE_RISING: (
            "{check}: {events} events on {event_days} days in the last {window} days, against "
            "{baseline:.2g} per day before."
        ),
        Verdict.INDICATOR: (
            "{check}: the device itself has asked for this since {since} (every day since); "
            "due by {projected}."
        ),
        Verdict.STABLE: "{check} shows no trend towards {threshold:g}.",
        Verdict.FAR: (
            "{check} drifts {slope:+.3g} per day but would not reach {threshold:g} "
            "before {projected}."
        ),
        Verdict.REVERSED: "{check} moves away from {threshold:g}: the trend has reversed.",
        Verdict.NO_DATA: "No forecast for {check}: no usable sample ({rejected}).",
        Verdict.TOO_FEW_DAYS: (
            "No forecast for {check}: {days} day(s) of data since {since}, {needed} needed "
            "({rejected})."
        ),
        Verdict.STALE: "No forecast for {check}: no data since {since}.",
    },
    "zh-CN": {
        Verdict.RISING_COUNTER: (
            "{check} 最近 {window} 天内有 {rise_days} 天上升，共增加 {rise:g}；"
            "按此速度约在 {projected} 达到 {threshold:g}。"
        ),
        Verdict.TREND_TO_THRESHOLD: (
            "{check} 每天变化 {slope:+.3g}（95% 区间 {low:+.3g} 至 {high:+.3g}），"
            "预计约在 {projected} 达到 {threshold:g}（{earliest} 至 {latest} 之间）。"
        ),
        Verdict.STEP: "{check} 于 {step_date} 从 {before:g} 突变为 {after:g}，并保持不变。",
        Verdict.RATE_RISING: (
            "{check}：最近 {window} 天内 {event_days} 天共发生 {events} 次，"
            "此前每天约 {baseline:.2g} 次。"
        ),
        Verdict.INDICATOR: (
            "{check}：设备自 {since} 起每天都报告需要处理，应在 {projected} 前处理。"
        ),
        Verdict.STABLE: "{check} 没有趋向 {threshold:g} 的变化。",
        Verdict.FAR: "{check} 每天变化 {slope:+.3g}，但在 {projected} 之前不会达到 {threshold:g}。",
        Verdict.REVERSED: "{check} 正在远离 {threshold:g}：趋势已经反转。",
        Verdict.NO_DATA: "{check} 无法预测：没有可用的采样（{rejected}）。",
        Verdict.TOO_FEW_DAYS: (
            "{check} 无法预测：自 {since} 起只有 {days} 天数据，"
            "至少需要 {needed} 天（{rejected}）。"
        ),
        Verdict.STALE: "{check} 无法预测：自 {since} 起没有数据。",
    },
}

REJECTED_WORDS: Mapping[str, Mapping[Rejected, str]] = {
    "en": {
        Rejected.NOT_A_NUMBER: "not a number",
        Rejected.SENTINEL: "sentinel value",
        Rejected.NEGATIVE_COUNTER: "negative counter",
        Rejected.CONFLICTING_DUPLICATE: "conflicting duplicate timestamp",
        Rejected.GLITCH: "one-sample spike",
        Rejected.OUT_OF_RANGE: "out of range",
    },
    "zh-CN": {
        Rejected.NOT_A_NUMBER: "非数值",
        Rejected.SENTINEL: "无效标记值",
        Rejected.NEGATIVE_COUNTER: "计数器为负",
        Rejected.CONFLICTING_DUPLICATE: "时间戳重复且数值矛盾",
        Rejected.GLITCH: "单点尖峰",
        Rejected.OUT_OF_RANGE: "超出范围",
    },
}


def rejected_words(rejected: Mapping[Rejected, int], language: str) -> str:
    if not rejected:
        return "no sample rejected" if language == "en" else "没有剔除的采样"
    words = REJECTED_WORDS[language]
    separator = ", " if language == "en" else "，"
    if language == "en":
        return "rejected: " + separator.join(
            f"{count} {words[reason]}" for reason, count in sorted(rejected.items())
        )
    return "已剔除：" + separator.join(
        f"{words[reason]} {count} 个" for reason, count in sorted(rejected.items())
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything a reader needs to check a prediction by hand."""

    check: str
    signal: Signal
    model: Model
    verdict: Verdict
    at_day: int
    days: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    fit: Fit | None = None
    threshold: float | None = None
    baseline: float | None = None
    projected_day: int | None = None
    earliest_day: int | None = None
    latest_day: int | None = None
    confidence: float = 0.0
    part: str | None = None
    rejected: Mapping[Rejected, int] = field(default_factory=dict)
    en: str = ""
    zh: str = ""

    @property
    def alarm(self) -> bool:
        return self.verdict in ALARMS


def sentences(
    verdict: Verdict, rejected: Mapping[Rejected, int], **facts: object
) -> dict[str, str]:
    """The verdict's sentence in each language; day numbers in `facts` are given as dates."""
    out = {}
    for language, catalogue in SENTENCES.items():
        words = {
            k: (date_of(v).isoformat() if isinstance(v, _Day) else v) for k, v in facts.items()
        }
        out[language] = catalogue[verdict].format(
            rejected=rejected_words(rejected, language), **words
        )
    return out


class _Day(int):
    """A day number to be shown as a date."""


def as_date(day: int | None) -> object:
    return "never" if day is None else _Day(day)
