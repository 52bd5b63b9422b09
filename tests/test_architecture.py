"""The layout's one rule: imports point down. docs/architecture.md names the floors.

Every project module is parsed (imports inside functions count too) and each import of
another project module is checked against the floors below; a circle between two
modules fails as well. Nothing is imported or run: this reads source files only.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (floor, packages/modules on it). A module may import its own package and anything on
# a lower floor; among the stages, only stages named before it.
CORE = ("neurostock.core",)
STAGES = ("ingest", "sampledata", "images", "embed", "score", "learn", "rate", "analysis",
          "deliver", "submit", "reports")
ORCHESTRATION = ("neurostock.build", "neurostock.dbt_plugin")
TOP = ("neurostock.cli", "neurostock.__main__")
PACKAGES = ("neurostock", *STAGES)


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


def test_no_import_circles_between_modules():
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
    circles = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                      if a in edges.get(b, set())})
    assert circles == [], f"modules that import each other: {circles}"


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
