"""The layout's one rule: imports point down. docs/architecture.md names the floors.

Every project module is parsed (imports inside functions count too) and each import of
another project module is checked against the floors below; a circle of modules of any
length fails as well. Nothing is imported or run: this reads source files only.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (floor, packages/modules on it). A module may import its own package and anything on
# a lower floor; among the stages, only stages named before it.
CORE = ("neurostock.core",)
# The stages in data order: a stage may import the ones before it, never a later one.
STAGES = tuple(f"neurostock.{stage}" for stage in (
    "sampledata", "ingest", "images", "rate", "compute", "embed", "score", "learn",
    "analysis", "deliver", "submit", "reports"))
ORCHESTRATION = ("neurostock.build", "neurostock.dbt_plugin")
TOP = ("neurostock.cli", "neurostock.__main__")
PACKAGES = ("neurostock",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _owner(module: str) -> str | None:
    """The layout unit a module belongs to (a core/build package, a stage, a top module)."""
    for unit in (*CORE, *ORCHESTRATION, *TOP, *STAGES):
        if module == unit or module.startswith(unit + "."):
            return unit
    if module == "neurostock":
        return "neurostock"
    return None


def _rank(unit: str) -> tuple[int, int]:
    if unit in CORE or unit == "neurostock":
        return (0, 0)
    if unit in STAGES:
        return (1, STAGES.index(unit))
    if unit in ORCHESTRATION:
        return (2, 0)
    return (3, 0)


def _allowed(importer: str, imported: str) -> bool:
    if importer == imported:
        return True
    (floor_a, order_a), (floor_b, order_b) = _rank(importer), _rank(imported)
    if floor_a == 1 and floor_b == 1:
        return order_b < order_a
    if floor_a == 2 and floor_b == 2:
        return True  # the orchestration modules form one unit (the plugin registers steps)
    return floor_b < floor_a


def test_every_module_belongs_to_a_floor():
    homeless = [m for m in _project_modules() if _owner(m) is None]
    assert homeless == [], f"modules outside the floors of docs/architecture.md: {homeless}"


def test_imports_point_down():
    modules = _project_modules()
    wrong = []
    for name, path in sorted(modules.items()):
        unit = _owner(name)
        for imported in sorted(_imports(path)):
            target = _owner(imported)
            if target is None or (imported not in modules and imported.rsplit(".", 1)[0]
                                  not in modules):
                continue  # not a project module
            if not _allowed(unit, target):
                wrong.append(f"{name} imports {imported} ({unit} -> {target})")
    assert wrong == [], "imports that point up or across:\n" + "\n".join(wrong)


def _module_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from package import name` counts
    as importing the package's module when `name` is no module)."""
    modules = _project_modules()
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            if imported in modules:
                targets.add(imported)
            elif imported.rsplit(".", 1)[0] in modules:
                targets.add(imported.rsplit(".", 1)[0])
        edges[name] = targets - {name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative): every import circle, whatever its length, lies inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_circle_finder_finds_long_circles():
    # a -> b -> c -> d -> a is one circle of four; e hangs off it, f -> g is no circle.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"a", "e"}, "e": set(),
             "f": {"g"}, "g": set(), "x": {"y"}, "y": {"x"}}
    assert circles(graph) == [["a", "b", "c", "d"], ["x", "y"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circles_between_modules():
    found = circles(_module_graph())
    assert found == [], f"modules that import each other, directly or around a circle: {found}"


def test_dbt_python_models_import_only_stages():
    """dbt's Python models are steps of the analysis: they may use stage packages, never
    the CLI or the orchestration that runs dbt."""
    wrong = []
    for path in (ROOT / "dbt_project" / "models").rglob("*.py"):
        for imported in _imports(path):
            unit = _owner(imported)
            if unit is not None and _rank(unit)[0] >= 2:
                wrong.append(f"{path.name} imports {imported}")
    assert wrong == []
