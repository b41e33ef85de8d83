"""approvals.csv (`[crm] approvals`, rule 6) and `overlap approve`: validated like every CRM
file; the command appends one validated row, creates the file with its header, never rewrites
the other rows, and two concurrent approves never corrupt it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overlap.cli import main
from overlap.crm import load_crm
from overlap.errors import InputError

from .test_crm import write_project

APPROVALS = 'approvals = "crm/approvals.csv"\n'
HEADER = "account_id,rep_email,valid_from,valid_until,reason\n"


def approve(config: Path, *args: str) -> int:
    return main(["approve", "--config", str(config), *args])


def test_approve_creates_the_file_and_the_import_reads_it(tmp_path, capsys) -> None:
    write_project(tmp_path, extra_toml=APPROVALS)
    toml = tmp_path / "overlap.toml"
    assert approve(toml, "--account", "A1", "--rep", "JOHN@corp.example", "--from",
                   "2025-03-10", "--reason", "Timber deal <b>with</b> Jane's blessing") == 0
    assert "crm/approvals.csv:2: approved" in capsys.readouterr().out
    assert approve(toml, "--account", "A2", "--rep", "jd@corp.example", "--until",
                   "2025-06-01T00:00:00+02:00", "--reason", "covering, 50% = fine") == 0
    text = (tmp_path / "crm" / "approvals.csv").read_text("utf-8")
    assert text == (HEADER + "A1,JOHN@corp.example,2025-03-10,,Timber deal <b>with</b> Jane's"
                    " blessing\nA2,jd@corp.example,,2025-06-01T00:00:00+02:00,"
                    "\"covering, 50% = fine\"\n")
    from overlap.config import load_config

    rows = load_crm(load_config(toml)).tables["crm_approvals"].to_pylist()
    assert [(r["account_id"], r["rep_email"], r["valid_from"], r["valid_until"], r["reason"],
             r["line"]) for r in rows] == [
        ("A1", "john@corp.example", datetime(2025, 3, 10, tzinfo=UTC), None,
         "Timber deal <b>with</b> Jane's blessing", 2),
        ("A2", "jane@corp.example", None, datetime(2025, 5, 31, 22, tzinfo=UTC),
         "covering, 50% = fine", 3)]  # an alias is stored as the rep


def test_approve_appends_without_rewriting_other_rows(tmp_path) -> None:
    write_project(tmp_path, extra_toml=APPROVALS)
    existing = (b"Reason ,  Account_ID,rep_email,valid_until,valid_from,note\n"
                b"\"kept,\n as is\",A1,john@corp.example,,,x")  # no final newline
    (tmp_path / "crm" / "approvals.csv").write_bytes(existing)
    assert approve(tmp_path / "overlap.toml", "--account", "A2", "--rep",
                   "sam@corp.example", "--from", "2025-01-01", "--reason", "ok") == 0
    data = (tmp_path / "crm" / "approvals.csv").read_bytes()
    assert data == existing + b"\nok,A2,sam@corp.example,,2025-01-01,\n"  # the file's order


@pytest.mark.parametrize(("args", "message"), [
    (["--account", "A9", "--rep", "john@corp.example"], "'--account': unknown account_id 'A9'"),
    (["--account", "A1", "--rep", "eve@corp.example"], "'--rep': eve@corp.example is not a rep"),
    (["--account", "A1", "--rep", "john@corp.example", "--from", "2025-03-10", "--until",
      "2025-03-01"], "'--until': valid_until '2025-03-01' is not after"),
    (["--account", "A1", "--rep", "john@corp.example", "--from", "10/03/2025"],
     "'--from': '10/03/2025' is not a date"),
    (["--account", "A1", "--rep", "john@corp.example", "--reason", "=HYPERLINK(\"x\")"],
     "'--reason': starts like a spreadsheet formula"),
    (["--account", "A1", "--rep", "john@corp.example", "--reason", "@SUM(A1)"],
     "'--reason': starts like a spreadsheet formula"),
    (["--account", "A1", "--rep", "john@corp.example", "--reason", "two\nlines"],
     "'--reason': must be one line"),
    (["--account", "A1", "--rep", "john@corp.example", "--reason", "  "],
     "'--reason': is empty"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys, args, message) -> None:
    write_project(tmp_path, extra_toml=APPROVALS)
    if "--reason" not in args:
        args = [*args, "--reason", "fine"]
    assert approve(tmp_path / "overlap.toml", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "crm" / "approvals.csv").exists()


def test_approve_without_the_setting_says_how_to_add_it(tmp_path, capsys) -> None:
    write_project(tmp_path)
    assert approve(tmp_path / "overlap.toml", "--account", "A1", "--rep", "john@corp.example",
                   "--reason", "fine") == 2
    assert 'add approvals = "crm/approvals.csv" to [crm]' in capsys.readouterr().err


def test_concurrent_approves_never_corrupt_the_file(tmp_path) -> None:
    write_project(tmp_path, extra_toml=APPROVALS)
    toml = tmp_path / "overlap.toml"
    n = 12
    procs = [subprocess.Popen([sys.executable, "-m", "overlap.cli", "approve", "--config",
                               str(toml), "--account", "A1", "--rep", "john@corp.example",
                               "--from", f"2025-01-{i + 1:02d}", "--reason", f"reason {i} " * 40],
                              stdout=subprocess.DEVNULL) for i in range(n)]
    assert [p.wait(timeout=120) for p in procs] == [0] * n
    from overlap.config import load_config

    rows = load_crm(load_config(toml)).tables["crm_approvals"].to_pylist()
    assert sorted(r["reason"] for r in rows) == sorted((f"reason {i} " * 40).strip()
                                                       for i in range(n))
    assert sorted(r["line"] for r in rows) == list(range(2, n + 2))


@pytest.mark.parametrize(("row", "message"), [
    ("A9,john@corp.example,,,x", "approvals.csv:2: column 'account_id': unknown account_id"),
    ("A1,nobody@corp.example,,,x", "approvals.csv:2: column 'rep_email': nobody@corp.example"),
    ("A1,john@corp.example,2025-02-30,,x", "approvals.csv:2: column 'valid_from': '2025-02-30'"),
    ("A1,john@corp.example,2025-03-01,2025-03-01,x", "column 'valid_until': valid_until"),
    ("A1,john@corp.example,,,", "approvals.csv:2: column 'reason': is empty"),
])
def test_the_import_validates_approvals_like_every_crm_file(tmp_path, row, message) -> None:
    config = write_project(tmp_path, extra_toml=APPROVALS)
    (tmp_path / "crm" / "approvals.csv").write_text(HEADER + row + "\n", "utf-8")
    with pytest.raises(InputError) as err:
        load_crm(config)
    assert message in str(err.value)
