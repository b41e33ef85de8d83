"""The report's queries live in reports/sql/: every file is used, and no loader is left
pointing at a file that is not there."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import reports.data

SQL_DIR = resources.files("reports").joinpath("sql")


def test_every_query_file_is_loaded_and_every_loaded_query_exists() -> None:
    source = Path(reports.data.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'_query\("([a-z_]+)"\)', source))
    files = {p.name.removesuffix(".sql") for p in SQL_DIR.iterdir() if p.name.endswith(".sql")}
    assert files, "reports/sql/ holds no queries"
    assert used == files


def test_every_query_file_says_what_a_row_is() -> None:
    for path in SQL_DIR.iterdir():
        if path.name.endswith(".sql"):
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first.startswith("-- grain: "), path.name
