"""One forecast as an inline SVG: the series, the fit carried to the projected date, the
threshold and the projected date. No JavaScript, no external assets: pages embed it as is.
"""

from html import escape

from server.predict.evidence import Evidence
from server.predict.rollup import date_of

WIDTH, HEIGHT, PAD = 480, 160, 24


def render_svg(evidence: Evidence, *, title: str | None = None) -> str:
    """The chart of `evidence`; an empty frame with its sentence when there is no series."""
    label = escape(title or evidence.en)
    if not evidence.days:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="{label}"><title>{label}</title>'
            f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#ccc"/></svg>'
        )
    first = evidence.days[0]
    last = max(evidence.days[-1], evidence.projected_day or evidence.days[-1])
    fit_end = evidence.projected_day if evidence.projected_day is not None else evidence.days[-1]
    ys = list(evidence.values)
    if evidence.threshold is not None:
        ys.append(evidence.threshold)
    if evidence.fit is not None:
        ys += [evidence.fit.at(first), evidence.fit.at(fit_end)]
    low, high = min(ys), max(ys)
    span_y = (high - low) or 1.0
    span_x = (last - first) or 1

    def x(day: float) -> float:
        return round(PAD + (day - first) / span_x * (WIDTH - 2 * PAD), 1)

    def y(value: float) -> float:
        return round(HEIGHT - PAD - (value - low) / span_y * (HEIGHT - 2 * PAD), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><title>{label}</title>',
        '<polyline class="series" fill="none" stroke="#1f5fa8" stroke-width="1.5" points="'
        + " ".join(f"{x(d)},{y(v)}" for d, v in zip(evidence.days, evidence.values, strict=True))
        + '"/>',
    ]
    if evidence.fit is not None:
        parts.append(
            f'<line class="fit" x1="{x(first)}" y1="{y(evidence.fit.at(first))}" '
            f'x2="{x(fit_end)}" y2="{y(evidence.fit.at(fit_end))}" stroke="#e07b00" '
            'stroke-dasharray="4 3"/>'
        )
    if evidence.threshold is not None:
        t = y(evidence.threshold)
        parts.append(
            f'<line class="threshold" x1="{PAD}" y1="{t}" x2="{WIDTH - PAD}" y2="{t}" '
            'stroke="#c0392b"/>'
            f'<text x="{WIDTH - PAD}" y="{t - 3}" font-size="10" text-anchor="end">'
            f"{evidence.threshold:g}</text>"
        )
    # The value range on the left and the first day below it, so the chart reads on its own.
    parts.append(
        f'<text class="axis" x="2" y="{PAD - 4}" font-size="10">{high:.4g}</text>'
        f'<text class="axis" x="2" y="{HEIGHT - PAD + 12}" font-size="10">{low:.4g}</text>'
        f'<text class="axis" x="{PAD}" y="{HEIGHT - 6}" font-size="10">'
        f"{date_of(first).isoformat()}</text>"
    )
    if evidence.projected_day is not None:
        p = x(evidence.projected_day)
        # Anchored at its end near the right edge, where a centred date would be cut off.
        anchor = "end" if p > WIDTH - 4 * PAD else "middle"
        parts.append(
            f'<line class="projected" x1="{p}" y1="{PAD}" x2="{p}" y2="{HEIGHT - PAD}" '
            'stroke="#c0392b" stroke-dasharray="2 2"/>'
            f'<text x="{p}" y="{HEIGHT - 6}" font-size="10" text-anchor="{anchor}">'
            f"{date_of(evidence.projected_day).isoformat()}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
