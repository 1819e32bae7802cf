"""Config files read once at start (agent config, notify config, fault rules): YAML with each
field's line kept, so every error names the file, the line and the field."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

FieldPath = tuple[str | int, ...]
# libyaml's parser when PyYAML was built with it (its wheels are): the same documents and marks
# as the pure-Python one at a fraction of the CPU, which the agent spends at start on profiles.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigProblem:
    """One bad field: where it is and what is wrong with it."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line} {where}{self.message}"


class ConfigError(Exception):
    """The config file cannot be used; the message lists every problem, one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class YamlFile:
    """A parsed file and the line of each field path in it."""

    name: str
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def problem(self, loc: FieldPath, message: str) -> ConfigProblem:
        return ConfigProblem(self.name, line_of(loc, self.lines), dotted(loc), message)

    def fail(self, found: Iterable[tuple[FieldPath, str]]) -> None:
        """Raise ConfigError for these (field path, message) pairs, if there are any."""
        problems = [self.problem(loc, message) for loc, message in found]
        if problems:
            raise ConfigError(problems)

    def validate(
        self, model: type[M], data: Any = None, *, context: dict[str, Any] | None = None
    ) -> M:
        """`data` (the whole file by default) as `model`, or ConfigError naming each field."""
        try:
            return model.model_validate(self.data if data is None else data, context=context)
        except ValidationError as err:
            raise ConfigError(
                [self.problem(tuple(e["loc"]), e["msg"]) for e in err.errors(include_url=False)]
            ) from err


def read_yaml(path: Path, *, mapping: bool = True) -> YamlFile:
    """Read a YAML (or JSON) file; ConfigError on an unreadable file, bad syntax, a duplicate
    key, or (with `mapping`) a top level that is not a mapping."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([ConfigProblem(name, 0, "", f"cannot read: {err.strerror}")]) from err
    return parse_yaml(name, text, mapping=mapping)


def parse_yaml(name: str, text: str, *, mapping: bool = True) -> YamlFile:
    """`read_yaml` for a text already read (`name` is what errors call it)."""
    loader = SafeLoader(text)
    try:
        root = loader.get_single_node()  # parsed once: the nodes give lines, then the data
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        reason = " ".join(filter(None, [err.context, err.problem]))
        raise ConfigError([ConfigProblem(name, line, "", f"YAML syntax: {reason}")]) from err
    except yaml.YAMLError as err:
        raise ConfigError([ConfigProblem(name, 0, "", f"YAML: {err}")]) from err
    finally:
        loader.dispose()
    lines: dict[FieldPath, int] = {}
    if root is not None:
        lines[()] = root.start_mark.line + 1
        duplicates = [
            ConfigProblem(name, line, dotted(loc), "duplicate key")
            for loc, line in _index_lines(root, (), lines)
        ]
        if duplicates:
            raise ConfigError(duplicates)
    if mapping and not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, lines.get((), 1), "", "must be a YAML mapping")])
    return YamlFile(name, data, lines)


def _index_lines(
    node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]
) -> Iterator[tuple[FieldPath, int]]:
    """Fill `lines` (field path → 1-based line); yield duplicate mapping keys as found."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                yield child, key_node.start_mark.line + 1
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            yield from _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            lines[child] = item.start_mark.line + 1
            yield from _index_lines(item, child, lines)


def line_of(loc: FieldPath, lines: dict[FieldPath, int]) -> int:
    """Line of the field, or of the nearest enclosing one that exists (for a missing field)."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return 1


def dotted(loc: FieldPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
