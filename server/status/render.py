"""Renders the status page with Jinja2 (autoescaped): server-side HTML, readable without JS."""

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from server.status.view import StatusView
from server.status.words import LANGUAGES, Words

LANGUAGE_LABELS = {"en": "English", "zh-CN": "中文"}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("server.status", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_status(view: StatusView, words: Words, *, shared: bool) -> str:
    template = _environment().get_template("status.html")
    return template.render(
        view=view,
        t=words,
        lang=words.language,
        languages=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
        shared=shared,
    )
