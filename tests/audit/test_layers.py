"""audit/'s modules depend one way: helpers, models, registry, services, capture and signals, then the doors.

Every import of one audit module by another counts, those inside functions included.
"""

import ast
from pathlib import Path

AUDIT = Path(__file__).resolve().parents[2] / "audit"

# A module may import modules of its own layer or of layers above it in this list, never of layers below.
LAYERS = [
    ["audit.hashing", "audit.context", "audit.keys"],
    ["audit.models", "audit.checks"],
    ["audit.registry"],
    ["audit.services"],
    ["audit.integrity", "audit.capture", "audit.signals"],
    ["audit", "audit.apps", "audit.middleware", "audit.admin", "audit.filtersets", "audit.api", "audit.management"],
    ["audit.migrations"],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(AUDIT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = AUDIT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """The audit modules `path` imports, resolved to modules (`from audit import services` is audit.services)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return {name for name in found if name == "audit" or name.startswith("audit.")}


def layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(name == entry or name.startswith(entry + ".") for entry in layer if entry != "audit"):
            return index
    assert name == "audit", f"{name} has no place in LAYERS"
    return LAYERS.index(next(layer for layer in LAYERS if "audit" in layer))


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) - {module_name(path)} for path in sorted(AUDIT.rglob("*.py"))}


def test_imports_point_down_the_layers():
    wrong = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert wrong == []


def test_there_are_no_import_cycles():
    edges = graph()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(edges.get(module, ())):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    assert cycles == []
