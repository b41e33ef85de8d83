"""No product function is longer than a reader can hold: under 120 lines each (issue 18).

Product code is what ships and runs in a deployment: ``overlap``, ``connectors``, ``reports``,
``sql``, the DAGs and the Airflow plugin. ``sandbox`` (the emulators and the synthetic
organisation generator beside the core) and ``tests``/``benchmarks`` are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("overlap", "connectors", "reports", "sql", "dags", "plugins")
LIMIT = 120


def _functions() -> list[tuple[int, str]]:
    found = []
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    assert node.end_lineno is not None
                    length = node.end_lineno - node.lineno + 1
                    found.append((length, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return found


def test_every_product_function_is_under_the_limit() -> None:
    functions = _functions()
    assert len(functions) > 500  # the walk found the product, not an empty folder
    too_long = sorted(f for f in functions if f[0] >= LIMIT)
    assert not too_long, f"functions of {LIMIT}+ lines: {too_long}"
