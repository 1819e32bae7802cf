"""The server's rooms import each other in one direction: detection (`faults`) reports changes
and never reaches ticket intake (`tickets`), which consumes them. Read from the source with
`ast`, so a function-level import counts as much as one at the top."""

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
# Cycles left, none of them between detection and tickets; no other may appear:
# - `server.models` imports `server.notify.models` so that the notify tables are on its
#   metadata (migrations and `create_all` see every table through one import); notify's models
#   build on `server.models.Base`.
# - `server.tenancy` checks a new site's zone against the client's SLA settings with
#   `tickets.policy`, while tickets take their scope and assignee checks from tenancy.
KNOWN_CYCLES = {
    frozenset({"server.metrics", "server.models", "server.notify"}),
    frozenset({"server.tenancy", "server.tickets"}),
}


def room(module: str) -> str | None:
    """`server.faults.engine` → `server.faults`; `server.ingest` → `server.ingest`."""
    parts = module.split(".")
    if parts[0] != "server" or len(parts) < 2:
        return None
    name = parts[1]
    if (SERVER / name).is_dir() or (SERVER / f"{name}.py").is_file():
        return f"server.{name}"
    return None


def imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Room → the rooms its modules import."""
    graph: dict[str, set[str]] = {}
    for path in SERVER.rglob("*.py"):
        source = room(".".join(path.relative_to(SERVER.parent).with_suffix("").parts))
        if source is None:
            continue
        targets = graph.setdefault(source, set())
        for module in imported(ast.parse(path.read_text(), str(path))):
            target = room(module)
            if target is not None and target != source:
                targets.add(target)
    return graph


def reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(graph: Mapping[str, set[str]]) -> set[frozenset[str]]:
    """The groups of rooms that reach each other (strongly connected, more than one room)."""
    found = set()
    for node in graph:
        group = frozenset(
            {node} | {o for o in reachable(graph, node) if node in reachable(graph, o)}
        )
        if len(group) > 1:
            found.add(group)
    return found


def test_detection_never_imports_ticket_intake() -> None:
    graph = import_graph()
    assert "server.faults" in graph
    assert "server.tickets" in reachable(graph, "server.detector")  # the graph sees real edges
    assert "server.tickets" not in reachable(graph, "server.faults")


def test_no_cycle_between_server_rooms_but_the_known_one() -> None:
    assert cycles(import_graph()) <= KNOWN_CYCLES


def test_cycles_are_found_when_there_are_some() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}
