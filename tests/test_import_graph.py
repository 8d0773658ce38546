"""The import graph of guard's packages has no cycle, counting imports inside functions
too (a lazy import still ties two modules together), and keeps STYLE.md's direction:
guard/core imports nothing of guard.deid, federated, audits, guard.release or the CLI,
and no library module imports the CLI (only `python -m guard` does)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("guard", "federated", "audits")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """First-party modules `name` imports anywhere in its code, except under TYPE_CHECKING.
    `from pkg import sub` counts as importing the module pkg.sub when there is one."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                found.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom):
                if n.level:
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[: len(base) - (n.level - 1)]
                    source = ".".join(base + ([n.module] if n.module else []))
                else:
                    source = n.module or ""
                subs = [f"{source}.{a.name}" for a in n.names if f"{source}.{a.name}" in modules]
                found.update(subs)
                if len(subs) < len(n.names):
                    found.add(source)
    # a package's own __init__ runs before its submodules: importing a parent is no edge
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_go_one_way():
    graph = _graph()
    upper = ("guard.deid", "guard.release", "guard.cli", "guard.api", "guard.audit", "federated", "audits")
    for name, imports in graph.items():
        if name.startswith("guard.core"):
            assert not [m for m in imports if m.startswith(upper)], name
        if not name.startswith("guard.cli") and name != "guard.__main__":  # `python -m guard` is the CLI
            assert not [m for m in imports if m.startswith("guard.cli")], name


def test_every_package_ships_in_the_wheel():
    """pyproject.toml lists packages by hand (examples/ ships as guard.examples): a new
    subpackage missing from that list would be left out of the wheel."""
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    shipped = {ROOT / setup.get("package-dir", {}).get(p, p.replace(".", "/")) for p in setup["packages"]}
    on_disk = {init.parent for package in PACKAGES for init in (ROOT / package).rglob("__init__.py")}
    on_disk.add(ROOT / "examples")
    assert on_disk == shipped
