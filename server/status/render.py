"""Renders the status page with Jinja2 (autoescaped): server-side HTML, readable without JS."""

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from server.status.view import DayBar, StatusView
from server.status.words import LANGUAGES, Words

LANGUAGE_LABELS = {"en": "English", "zh-CN": "中文"}


def bar_items(bars: list[DayBar]) -> Markup:
    """The day bars as <li> elements: built here because a 20-site page has ~9,000 of them and
    a Jinja loop per bar costs most of the page's time."""
    return Markup(
        "".join(
            f'<li class="{bar.colour.value}" tabindex="0" aria-label="{escape(bar.label)}"></li>'
            for bar in bars
        )
    )


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("server.status", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bar_items"] = bar_items
    return env


def render_status(view: StatusView, words: Words, *, shared: bool) -> str:
    template = _environment().get_template("status.html")
    return template.render(
        view=view,
        t=words,
        lang=words.language,
        languages=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
        shared=shared,
    )


def render_client(template: str, words: Words, *, heading: str, **values: object) -> str:
    """One of the client's own pages (sign-off, survey, their answers), in the status page's
    look: phone-sized, plain HTML forms that work without JavaScript."""
    return (
        _environment()
        .get_template(template)
        .render(
            t=words,
            lang=words.language,
            languages=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
            heading=heading,
            **values,
        )
    )
