"""Reports to HTML (Jinja2, autoescaped) and to PDF (WeasyPrint, imported when a PDF is asked
for: where its system libraries or a CJK font are missing, the HTML still works and the PDF
refusal says what to install)."""

import subprocess
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from server.reports.incident import IncidentReport
from server.reports.quarterly import QuarterlyReport, bars_svg
from server.reports.record import RESULT_WORDS, InspectionRecord
from server.tickets.kpis import Ratio

INSTALL_HINT = (
    "install WeasyPrint (pip install 'secmon[server]') and its system libraries "
    "(Debian: libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0) and a CJK font "
    "(Debian: fonts-noto-cjk)"
)


class PdfUnavailableError(RuntimeError):
    """A PDF cannot be made here; the message says what to install."""


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("server.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _ratio(value: Ratio) -> str:
    shown = "—" if value.value is None else f"{100 * value.value:.1f}%"
    return f"{shown} ({value.numerator}/{value.denominator})"


def quarterly_html(report: QuarterlyReport) -> str:
    template = _environment().get_template("quarterly.html")
    return template.render(r=report, bars=bars_svg, ratio=_ratio)


def inspection_html(record: InspectionRecord) -> str:
    return _environment().get_template("inspection.html").render(r=record, words=RESULT_WORDS)


def incident_html(report: IncidentReport) -> str:
    return _environment().get_template("incident.html").render(r=report)


def has_cjk_font() -> bool:
    """Whether fontconfig knows a font covering Chinese (else a PDF would print boxes)."""
    try:
        found = subprocess.run(
            ["fc-list", ":lang=zh", "family"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(found.stdout.strip())


def html_to_pdf(html: str) -> bytes:
    """The PDF of a rendered report; PdfUnavailableError without WeasyPrint or a CJK font."""
    if not has_cjk_font():
        raise PdfUnavailableError(f"no CJK font found by fontconfig: {INSTALL_HINT}")
    try:
        from weasyprint import HTML  # optional: system libraries needed
    except (ImportError, OSError) as err:
        raise PdfUnavailableError(f"WeasyPrint cannot load ({err}): {INSTALL_HINT}") from err
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
