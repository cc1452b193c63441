"""How the credentials modules depend on each other: one way, no import cycle (function-level imports count)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "credentials"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the credentials modules it imports, at module level or inside functions."""
    paths = [p for p in (ROOT / PACKAGE).rglob("*.py") if "migrations" not in p.parts]
    modules = {module_name(p): p for p in paths}

    def resolve(target: str) -> str | None:
        parts = target.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                targets |= {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in map(resolve, targets) if m and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "credentials.services.nats" in graph["credentials.signals.nats"]
    assert "credentials.push" in graph["credentials.tasks.nats"]


def test_no_import_cycle_in_credentials():
    assert cycles(import_graph()) == []


def test_domain_actions_never_import_the_push_pipeline_or_the_tasks():
    above = {"credentials.push", "credentials.tasks", "credentials.tasks.nats"}
    assert not import_graph()["credentials.services.nats"] & above
