"""The analyst's first hour on real mail (issue 20, items 11, 12, 14, 16), as they meet it:
the CLI run as a subprocess on the Enron export in ../shared/data, messages and exit codes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.e2e.test_cli import assert_one_line_error, run_cli
from tests.e2e.tinyorg import message, write_org

ENRON_CONFIG = """\
[company]
internal_domains = ["enron.com"]
timezone = "UTC"
[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
[warehouse]
path = "data/overlap.duckdb"
[report]
out_dir = "out"
[[sources]]
kind = "maildir"
path = "exports"
[[sources]]
kind = "ics"
path = "exports"
"""
PEOPLE = ("scholtes-d", "shapiro-r")  # two small real mailboxes (13 and 27 messages)


def enron_org(root: Path, shared_data: Path, *, maildir: bool) -> Path:
    """An org whose mailboxes are real Enron folders, named by address: as exported
    (``<address>/inbox/<n>.``, no maildir ``cur/``) or moved into ``cur/``."""
    (root / "crm").mkdir(parents=True)
    (root / "overlap.toml").write_text(ENRON_CONFIG, encoding="utf-8")
    (root / "crm" / "reps.csv").write_text(
        "email,name,manager_email,team,aliases\n"
        + "".join(f"{p}@enron.com,{p},,East,\n" for p in PEOPLE), encoding="utf-8")
    (root / "crm" / "accounts.csv").write_text(
        "account_id,account_name,owner_email,domains,team_emails\n"
        f"A1,Aquila,{PEOPLE[0]}@enron.com,aquila.com,\n", encoding="utf-8")
    for person in PEOPLE:
        src = shared_data / "enron-maildir" / person
        dest = root / "exports" / f"{person}@enron.com"
        shutil.copytree(src / "inbox", dest / ("cur" if maildir else "inbox"))
    return root / "overlap.toml"


def files_under(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def snapshot_rows(root: Path, sql: str, params: object = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(root / "data" / "overlap-snapshot.duckdb"), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


# --- 11: a maildir export without cur/ and new/ -----------------------------------------------

def test_maildir_export_without_cur_or_new_is_named_not_read_as_a_quiet_week(
        tmp_path: Path, shared_data: Path) -> None:
    cfg = enron_org(tmp_path, shared_data, maildir=False)
    proc = run_cli("run", "--config", str(cfg), "--week", "2001-W44", "-q")
    assert proc.returncode == 0, proc.stderr
    for person in PEOPLE:
        n = files_under(tmp_path / "exports" / f"{person}@enron.com")
        assert (f"{n:,} files under {person}@enron.com/, none read: maildir needs cur/ or new/"
                in proc.stderr), proc.stderr
    html = Path(proc.stdout.strip()).read_text(encoding="utf-8")
    assert "were read successfully" not in html
    # Two mailboxes, each read by two sources (maildir + ics): the coverage counts mailboxes.
    assert "0 of 2 mailboxes read in full" in html
    failed = snapshot_rows(tmp_path, "select mailbox, detail from data_quality "
                                     "where kind = 'mailbox_failed' order by mailbox")
    assert [m for m, _ in failed] == [f"{p}@enron.com" for p in PEOPLE]
    assert all("maildir needs cur/ or new/" in str(d) for _, d in failed)


def test_coverage_counts_mailboxes_not_mailbox_times_source(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)],
                                        "owner@corp.example": [("1", raw)]})
    with cfg.open("a", encoding="utf-8") as f:
        f.write('[[sources]]\nkind = "ics"\npath = "mail"\n')
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert proc.returncode == 0, proc.stderr
    html = Path(proc.stdout.strip()).read_text(encoding="utf-8")
    assert "All 2 mailboxes were read successfully" in html


def test_a_window_without_data_says_where_the_data_is(tmp_path: Path,
                                                      shared_data: Path) -> None:
    cfg = enron_org(tmp_path, shared_data, maildir=True)
    proc = run_cli("run", "--config", str(cfg), "-q")  # the default: last full week, 2026+
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"warning: no email or meeting in the window (\d{4}-W\d\d); your data spans "
                  r"(\d{4}-\d\d) \.\. (\d{4}-\d\d): pass --week or --start/--end "
                  r"\(the busiest week is (\d{4}-W\d\d)\)", proc.stderr)
    assert m is not None, proc.stderr
    assert m.group(1) >= "2026-W01" and m.group(2).startswith("2001-")
    busiest = m.group(4)
    # Following the hint reports real mail, and says nothing about an empty window.
    again = run_cli("run", "--config", str(cfg), "--week", busiest, "-q")
    assert again.returncode == 0, again.stderr
    assert "no email or meeting" not in again.stderr
    monday = date.fromisocalendar(int(busiest[:4]), int(busiest[-2:]), 1)
    rows = snapshot_rows(tmp_path, "select count(*) from interactions where week_start = ?",
                         [monday])
    assert rows[0][0] > 0  # type: ignore[operator]


# --- 12: overlap check ------------------------------------------------------------------------

def test_check_lists_what_a_run_would_read_and_writes_nothing(tmp_path: Path,
                                                              shared_data: Path) -> None:
    cfg = enron_org(tmp_path, shared_data, maildir=True)
    proc = run_cli("check", "--config", str(cfg), "--week", "2001-W44")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    in_window = 0
    assert "CRM: 1 accounts, 2 reps, 0 contacts (valid)" in out
    assert "source maildir (maildir " in out and "source ics (ics " in out
    for person in PEOPLE:
        n = files_under(tmp_path / "exports" / f"{person}@enron.com" / "cur")
        line = re.search(rf"  {person}@enron\.com: {n:,} messages in cur/ or new/, (\d+) emails "
                         r"(\d{4}-\d\d-\d\d) \.\. (\d{4}-\d\d-\d\d).*would read (\d+) emails? "
                         "in the window", out)
        assert line is not None, out
        assert 0 < int(line.group(1)) <= n and line.group(2) <= line.group(3)
        in_window += int(line.group(4))
    assert in_window > 0
    assert "no warnings" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm", "exports", "overlap.toml"]


def test_check_on_the_export_layout_warns_before_the_first_run(tmp_path: Path,
                                                               shared_data: Path) -> None:
    cfg = enron_org(tmp_path, shared_data, maildir=False)
    (tmp_path / "exports" / "MANIFEST.tsv").write_text("path\n", encoding="utf-8")
    proc = run_cli("check", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    for person in PEOPLE:
        assert f"  {person}@enron.com: 0 messages in cur/ or new/; would read nothing" \
            in proc.stdout
        assert f"maildir {person}@enron.com: " in proc.stdout
    assert "maildir needs cur/ or new/" in proc.stdout
    assert "MANIFEST.tsv (each mailbox needs its own folder" in proc.stdout
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_check_refuses_bad_input_like_a_run(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    (tmp_path / "crm" / "reps.csv").write_text("email,name\n", encoding="utf-8")
    assert_one_line_error(run_cli("check", "--config", str(cfg)), "reps.csv", "manager_email")


# --- 14: silent CRM and layout mistakes -------------------------------------------------------

def test_crm_and_layout_mistakes_are_warned_on_stderr_and_in_data_quality(
        tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)],
                                        "stranger@corp.example": [("1", raw)]})
    (tmp_path / "crm" / "accounts.csv").write_text(
        "account_id,account_name,owner_email,domains,team_emails\n"
        "A1,Acme,owner@corp.example,acme.example,\n"
        "A2,Globex,gone@corp.example,globex.example,\n"
        "A3,Ourselves,owner@corp.example,eu.corp.example,\n", encoding="utf-8")
    (tmp_path / "mail" / "notes.txt").write_text("stray\n", encoding="utf-8")
    expected = [
        "accounts.csv:3: owner gone@corp.example of account A2 is not in reps.csv",
        "accounts.csv:4: account A3 claims eu.corp.example, an internal domain",
        "mailbox stranger@corp.example is not a rep in reps.csv",
        "beside the mailbox folders in",
        "notes.txt",
    ]
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert proc.returncode == 0, proc.stderr
    for fragment in expected:
        assert fragment in proc.stderr, proc.stderr
    kinds = snapshot_rows(tmp_path, "select kind, item, detail from data_quality where kind in "
                                    "('owner_not_rep', 'internal_account_domain', "
                                    "'mailbox_not_rep') order by kind")
    assert kinds == [("internal_account_domain", "eu.corp.example", "A3"),
                     ("mailbox_not_rep", "stranger@corp.example", None),
                     ("owner_not_rep", "gone@corp.example", "A2")]
    check = run_cli("check", "--config", str(cfg), "--week", "2026-W47")
    assert check.returncode == 0, check.stderr
    for fragment in expected:
        assert fragment in check.stdout, check.stdout


def test_a_clean_org_has_no_warnings(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)]})
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr, proc.stderr
    assert snapshot_rows(tmp_path, "select count(*) from data_quality where kind in "
                                   "('owner_not_rep', 'internal_account_domain', "
                                   "'mailbox_not_rep')") == [(0,)]


# --- 16: small things a newcomer trips over ---------------------------------------------------

def test_init_with_a_file_name_says_init_takes_a_folder(tmp_path: Path) -> None:
    org = tmp_path / "my-org"
    assert run_cli("init", str(org)).returncode == 0
    assert_one_line_error(run_cli("init", str(org / "overlap.toml")), "takes a folder",
                          f"overlap check --config {org / 'overlap.toml'}")
    assert_one_line_error(run_cli("init", str(tmp_path / "new-org" / "overlap.toml")),
                          "takes a folder", f"overlap init {tmp_path / 'new-org'}")
    assert not (tmp_path / "new-org").exists()


@pytest.mark.parametrize("week", ["2001-W06", "2001W06", "2001-w06", "2001w06"])
def test_week_strings_are_accepted_case_insensitively(tmp_path: Path, week: str) -> None:
    cfg = write_org(tmp_path)
    proc = run_cli("check", "--config", str(cfg), "--week", week)
    assert proc.returncode == 0, proc.stderr
    assert "window: 2001-W06," in proc.stdout


def test_a_week_the_year_does_not_have_names_the_years_weeks(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    assert_one_line_error(run_cli("check", "--config", str(cfg), "--week", "2001-W53"),
                          "--week", "2001-W53 is not an ISO week: 2001 has weeks W01 .. W52")
    ok = run_cli("check", "--config", str(cfg), "--week", "2020-W53")  # 2020 has 53
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("command, phrase", [
    ("report", "without extracting"), ("query", "read-only analyst snapshot"),
    ("demo", "planted cases"), ("check", "writes nothing"), ("init", "never overwritten")])
def test_every_command_help_has_a_description(command: str, phrase: str) -> None:
    proc = run_cli(command, "--help")
    assert proc.returncode == 0
    assert phrase in " ".join(proc.stdout.split())


def test_a_toml_syntax_error_names_the_line_of_the_mistake(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace('internal_domains = ["corp.example"]',
                                                   'internal_domains = ["corp.example"')
    cfg.write_text(text, encoding="utf-8")
    line = text.splitlines().index('internal_domains = ["corp.example"') + 1
    assert_one_line_error(run_cli("run", "--config", str(cfg)),
                          f"overlap.toml:{line}: invalid TOML: this array is not closed")
    cfg.write_text(text.replace('internal_domains = ["corp.example"',
                                'internal_domains = ["corp.example"]\ntimezone = "UTC'),
                   encoding="utf-8")
    assert_one_line_error(run_cli("run", "--config", str(cfg)),
                          f"overlap.toml:{line + 1}: invalid TOML:", "(column")


def test_library_warnings_are_log_lines_and_quiet_with_q(tmp_path: Path,
                                                         shared_data: Path) -> None:
    cfg = write_org(tmp_path)
    with cfg.open("a", encoding="utf-8") as f:
        f.write('[[sources]]\nkind = "ics"\npath = "mail"\n')
    invite = (shared_data / "calendars" / "collective__icalendar" / "src" / "icalendar"
              / "tests" / "calendars" / "issue_313_globally_unique_tzid.ics")
    (tmp_path / "mail" / "rep@corp.example").mkdir()
    shutil.copy(invite, tmp_path / "mail" / "rep@corp.example" / "invite.ics")
    quiet = run_cli("run", "--config", str(cfg), "--week", "2020-W17", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert "TZID" not in quiet.stderr, quiet.stderr
    loud = run_cli("run", "--config", str(cfg), "--week", "2020-W17")
    assert loud.returncode == 0, loud.stderr
    lines = [ln for ln in loud.stderr.splitlines() if "TZID" in ln]
    assert lines and all(ln.startswith("overlap: library warning: GloballyUniqueTZIDGuessed:")
                         for ln in lines), loud.stderr


def test_the_duckdb_shell_note_in_the_readme_is_true(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "cannot open the warehouse file itself" in readme
    cfg = write_org(tmp_path)
    assert run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q").returncode == 0
    shell = Path(sys.executable).with_name("duckdb")
    warehouse = subprocess.run([str(shell), "-readonly", str(tmp_path / "data" / "overlap.duckdb"),
                                "-c", "select 1"], capture_output=True, text=True, timeout=60)
    # If this starts passing, the shell caught up: update the README's note.
    assert warehouse.returncode != 0 and "version" in warehouse.stderr, warehouse.stderr


def test_a_fresh_init_checks_clean_and_an_empty_run_says_nothing_was_read(
        tmp_path: Path) -> None:
    org = tmp_path / "my-org"
    assert run_cli("init", str(org)).returncode == 0
    cfg = org / "overlap.toml"
    check = run_cli("check", "--config", str(cfg), "--week", "2026-W47")
    assert check.returncode == 0, check.stderr
    assert "no warnings" in check.stdout and "0 mailboxes" in check.stdout
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert proc.returncode == 0, proc.stderr
    assert ("warning: no email or meeting in the window 2026-W47, and none read from the "
            f"sources: overlap check --config {cfg.resolve()}") in proc.stderr


def test_many_findings_of_one_kind_are_one_short_list(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    strangers = [f"s{n}@corp.example" for n in range(5)]
    cfg = write_org(tmp_path, messages={m: [("1", raw)] for m in strangers})
    (tmp_path / "crm" / "accounts.csv").write_text(
        "account_id,account_name,owner_email,domains,team_emails\n"
        + "".join(f"A{n},Acme {n},gone{n}@corp.example,acme{n}.example,\n" for n in range(6)),
        encoding="utf-8")
    proc = run_cli("check", "--config", str(cfg), "--week", "2026-W47")
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stdout.splitlines() if ln.startswith("  warning: ")]
    assert len(warnings) == 1 + 3 + 1, proc.stdout
    assert warnings[0].startswith(
        "  warning: 5 mailboxes are not reps in reps.csv: s0@corp.example, s1@corp.example, "
        "s2@corp.example and 2 more;")
    assert warnings[4] == ("  warning: … and 3 more like these (the data_quality view lists "
                           "them all)")
