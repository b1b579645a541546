"""The folders are the architecture: these tests keep it true.

* ``ops_sheets.domain`` is pure (tables and ``now`` in, plans out): it never
  imports an edge (the workbook backends, mail, the stores, the emulator) or the
  service (runner, scheduler, CLI).
* No import cycles between the package's modules. Imports guarded by
  ``if TYPE_CHECKING:`` are annotations, not dependencies, and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ops_sheets.config

PACKAGE_DIR = Path(ops_sheets.config.__file__).parent
JOBS_DIR = PACKAGE_DIR.parent / "jobs"

# What a domain module must never import: the workbook backends, the mailer, the
# stores, the service, the emulator. It may use other domain modules, the settings,
# the error types and the sheet's contract (tab specs, cell types, export layouts).
DOMAIN_MUST_NOT_IMPORT = (
    "ops_sheets.sheet.workbook",
    "ops_sheets.mail",
    "ops_sheets.store",
    "ops_sheets.service",
    "ops_sheets.emulator",
    "ops_sheets.web",
    "ops_sheets.jobs",
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str) -> set[str]:
    """Every ops_sheets module ``path`` imports at run time (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = ".".join(package[: len(package) - child.level + 1])
                    target = f"{base}.{child.module}" if child.module else base
                else:
                    target = child.module or ""
                found.add(target)
                found.update(f"{target}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return {m for m in found if m == "ops_sheets" or m.startswith("ops_sheets.")}


def _modules() -> dict[str, Path]:
    out = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    # a name such as ops_sheets.domain.kpis may also be reached as a package attribute
    return out


MODULES = _modules()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        graph[name] = {m for m in imports_of(path, name) if m in MODULES and m != name}
    return graph


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("ops_sheets.domain")))
def test_domain_module_imports_no_edge_and_no_service(module: str) -> None:
    assert not forbidden_imports(MODULES[module], module), "domain code must stay pure"


def forbidden_imports(path: Path, module: str) -> list[str]:
    """What the domain module at ``path`` imports from the edges or the service, and
    what those modules of the package import in turn (a sheet module that pulled in a
    backend would carry it into the domain)."""
    seen: set[str] = set()
    todo = [module]
    bad: list[str] = []
    while todo:
        name = todo.pop()
        source = path if name == module else MODULES.get(name)
        if source is None or name in seen:
            continue
        seen.add(name)
        for imported in sorted(imports_of(source, name)):
            if any(imported == f or imported.startswith(f + ".") for f in DOMAIN_MUST_NOT_IMPORT):
                bad.append(f"{name} imports {imported}")
            elif imported in MODULES:
                todo.append(imported)
    return bad


def test_package_has_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_architecture_check_catches_a_domain_module_importing_mail(tmp_path: Path) -> None:
    bad = PACKAGE_DIR / "domain" / "kpis.py"
    source = bad.read_text(encoding="utf-8") + "\nfrom ops_sheets.mail import message\n"
    copy = tmp_path / "kpis.py"
    copy.write_text(source, encoding="utf-8")
    assert forbidden_imports(copy, "ops_sheets.domain.kpis") == [
        "ops_sheets.domain.kpis imports ops_sheets.mail",
        "ops_sheets.domain.kpis imports ops_sheets.mail.message",
    ]


def test_jobs_reach_the_ledger_only_through_the_runner() -> None:
    for path in JOBS_DIR.glob("*.py"):
        imported = imports_of(path, f"ops_sheets.jobs.{path.stem}")
        assert not any(m.startswith("ops_sheets.store") for m in imported), (
            f"jobs/{path.name} imports the store: ask ctx.deliveries instead"
        )
