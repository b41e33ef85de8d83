"""The sandboxes are an independent witness: nothing under sandbox/ imports the connectors,
and the product imports the sandbox only inside ``overlap demo`` / ``overlap sandbox serve``."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, at module level) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.module, node.lineno, id(node) in top))
    return out


def _is(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_sandbox_module_imports_the_connectors() -> None:
    files = sorted((REPO / "sandbox").rglob("*.py"))
    assert len(files) > 10  # the walk found the package
    found = [f"{p.relative_to(REPO)}:{line} imports {m}" for p in files
             for m, line, _ in _imports(p) if _is(m, "connectors")]
    assert found == []


def test_the_walk_would_see_a_connectors_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from connectors.headers import read_headers\n")
    assert [m for m, _, _ in _imports(probe) if _is(m, "connectors")] == ["connectors.headers"]


def test_the_product_imports_the_sandbox_only_lazily_in_the_cli() -> None:
    product = [p for pkg in ("overlap", "connectors", "reports", "dags")
               for p in sorted((REPO / pkg).rglob("*.py"))]
    found = {(str(p.relative_to(REPO)), top) for p in product
             for m, _, top in _imports(p) if _is(m, "sandbox")}
    assert found <= {("overlap/cli.py", False)}
