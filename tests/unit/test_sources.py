"""The registry of source kinds (overlap/sources.py) and what is derived from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import connectors.files
from overlap import config, pipeline, sources


def test_every_kind_is_complete_and_consistent() -> None:
    assert set(sources.FILE_KINDS) == set(connectors.files.FILE_KINDS)
    assert config.SOURCE_KINDS == sources.SOURCE_KINDS
    assert set(sources.FILE_KINDS) | set(sources.API_KINDS) == set(sources.KINDS)
    for kind in sources.KINDS.values():
        assert kind.group in sources.GROUPS, kind
        if kind.is_file_kind:
            assert (kind.connector, kind.conn_id, kind.api) == ("connectors.files", None, None)
        else:
            assert kind.conn_id and kind.api in ("google", "microsoft"), kind
            assert pipeline.API_CONNECTORS[kind.kind] == kind.connector
            module = __import__(kind.connector, fromlist=["sync"])
            assert callable(module.sync), kind.connector


def test_pools_from_registry_and_environment() -> None:
    pools = sources.pools({"OVERLAP_POOL_GMAIL_SLOTS": "3"})
    assert pools["overlap_warehouse"]["slots"] == 1
    assert pools["overlap_gmail"]["slots"] == 3
    assert pools["overlap_msgraph"]["slots"] == sources.GROUPS["msgraph"].default_slots
    with pytest.raises(ValueError, match="OVERLAP_POOL_FILES_SLOTS"):
        sources.pools({"OVERLAP_POOL_FILES_SLOTS": "0"})


def test_enabled_groups() -> None:
    assert sources.enabled_groups({}) == sources.EXTRACT_GROUPS
    assert sources.enabled_groups({"OVERLAP_EXTRACT_GROUPS": "msgraph, gmail"}) == (
        "gmail", "msgraph")
    with pytest.raises(ValueError, match="unknown extract group"):
        sources.enabled_groups({"OVERLAP_EXTRACT_GROUPS": "gmial"})
    assert sources.groups_for(["ics", "msgraph", "maildir"]) == ("files", "msgraph")


def test_command_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "overlap.sources_cli", "pools"], check=True,
                         capture_output=True, text=True).stdout
    assert set(json.loads(out)) == {"overlap_warehouse", *(g.pool for g in
                                                           sources.GROUPS.values())}
    bad = subprocess.run([sys.executable, "-m", "overlap.sources_cli", "groups",
                          str(tmp_path / "absent.toml")], capture_output=True, text=True)
    assert bad.returncode == 2 and "config file not found" in bad.stderr
