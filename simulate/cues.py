"""Instructor cues as files, shared by the simulator, `secmon cue` and the console's training page.

The simulator announces its scenario's cues in `<data dir>/cues.json` at start; a cue is sent by
writing a `*.cue` file into `<data dir>/cues/`, which the simulator picks up within a second,
plays and deletes. Whoever may write the simulator's data dir (the instructor running it, or the
server given it as SECMON_TRAINING_DIR) may cue; the simulator itself listens on no port for
cues, and a cue survives a simulator that is busy or restarting.
"""

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CUES_DIR = "cues"
KNOWN_CUES = "cues.json"  # written at start: what may be sent, with what each cue does


class CueError(ValueError):
    """The cue cannot be sent; the message says why."""


class _Noted(Protocol):
    @property
    def note(self) -> str | None: ...


@dataclass(frozen=True)
class Cue:
    name: str
    description: str


def announce(data_dir: Path, cues: Mapping[str, Sequence[_Noted]]) -> None:
    """Publish the scenario's cues (name, and its steps' notes as the description)."""
    listing = [
        {"name": name, "description": "; ".join(s.note for s in steps if s.note)}
        for name, steps in sorted(cues.items())
    ]
    (data_dir / CUES_DIR).mkdir(parents=True, exist_ok=True)
    path = data_dir / KNOWN_CUES
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(listing, indent=1), encoding="utf-8")
    tmp.replace(path)


def known_cues(data_dir: Path) -> list[Cue]:
    """The cues the simulator in `data_dir` announced; CueError when none has started there."""
    try:
        listing = json.loads((data_dir / KNOWN_CUES).read_text(encoding="utf-8"))
        return [Cue(name=str(c["name"]), description=str(c["description"])) for c in listing]
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise CueError(f"no simulator has started in {data_dir} ({KNOWN_CUES} missing)") from err


def send_cue(data_dir: Path, name: str, *, now: Callable[[], float] = time.time) -> Path:
    """Queue cue `name` for the simulator running in `data_dir`; CueError when no simulator
    has started there or its scenario has no such cue (then nothing is written)."""
    known = [cue.name for cue in known_cues(data_dir)]
    if name not in known:
        raise CueError(f"unknown cue {name!r}; this scenario's cues: {', '.join(known) or 'none'}")
    folder = data_dir / CUES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now():.6f}.cue"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(name + "\n", encoding="utf-8")
    tmp.replace(path)  # whole or not at all: the watcher never reads half a cue
    return path


def take_cues(data_dir: Path) -> Iterator[str]:
    """The cue names queued in `data_dir`, oldest first, each removed as it is read."""
    for path in sorted((data_dir / CUES_DIR).glob("*.cue")):
        name = path.read_text(encoding="utf-8").strip()
        path.unlink()
        yield name
