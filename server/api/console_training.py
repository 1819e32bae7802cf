"""The console's Training page: a manager fires the running simulated site's instructor cues
(SECMON_TRAINING_DIR, the simulator's data dir), so technicians practise the ticket flow on
faults they did not expect. A cue is the same file `secmon cue` writes (`simulate/cues.py`)."""

import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.api.console_pages import Viewer, _forbidden, _not_found, _page, _staff
from server.api.deps import Ctx, DbSession
from server.console.session import csrf_ok
from simulate.cues import Cue, CueError, known_cues, send_cue
from wire.enums import Role

log = logging.getLogger("secmon.console.training")

router = APIRouter(prefix="/console", include_in_schema=False)
INSTRUCTORS = frozenset({Role.ADMIN, Role.MANAGER})


def _cues(folder: Path) -> tuple[list[Cue], str | None]:
    try:
        return known_cues(folder), None
    except CueError as err:
        return [], str(err)


@router.get("/training", response_class=HTMLResponse)
def training_page(
    request: Request, ctx: Ctx, session: DbSession, said: str | None = None
) -> Response:
    """The scenario's cues, one button each; 404 when the server runs no training."""

    def render(viewer: Viewer) -> Response:
        folder = ctx.settings.training_dir
        if folder is None:
            return _not_found(viewer)
        if viewer.principal.role not in INSTRUCTORS:
            return _forbidden(viewer)
        cues, problem = _cues(folder)
        return _page("training.html", viewer=viewer, here="training", cues=cues,
                     problem=problem, said=said)  # fmt: skip

    return _staff(request, ctx, session, render)


@router.post("/training")
def fire_cue(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    cue: Annotated[str, Form(max_length=100)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """One cue button: the cue file for the simulator, logged once, back to the page."""

    def act(viewer: Viewer) -> Response:
        folder = ctx.settings.training_dir
        if folder is None:
            return _not_found(viewer)
        if viewer.principal.role not in INSTRUCTORS:
            return _forbidden(viewer)
        if not csrf_ok(viewer.session, csrf):
            return _page("message.html", 400, viewer=viewer, title="Form expired",
                         message="The form expired. Please go back and try again.")  # fmt: skip
        try:
            send_cue(folder, cue)
        except CueError as err:
            return _page("message.html", 404, viewer=viewer, title="No such cue",
                         message=str(err))  # fmt: skip
        log.info("training cue %s fired by %s", cue, viewer.principal.username)
        return RedirectResponse(f"/console/training?said={quote(cue)}", status_code=303)

    return _staff(request, ctx, session, act)
