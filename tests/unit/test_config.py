"""overlap.toml: defaults, paths relative to the file, and clear errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlap.config import Weights, load_config
from overlap.errors import InputError

MINIMAL = """\
[company]
internal_domains = ["Corp.Example", "bücher.example"]
[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "conf" / "overlap.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, "utf-8")
    else:
        path.write_bytes(text)
    return path


def test_minimal_config_defaults_and_relative_paths(tmp_path):
    path = write(tmp_path, MINIMAL)
    config = load_config(path)
    base = path.parent.resolve()
    assert config.internal_domains == ("corp.example", "xn--bcher-kva.example")
    assert config.timezone == "UTC"
    assert config.accounts_csv == base / "crm" / "accounts.csv"
    assert config.reps_csv == base / "crm" / "reps.csv"
    assert config.contacts_csv is None
    assert config.warehouse == base / "data" / "overlap.duckdb"
    assert config.out_dir == base / "out"
    assert config.sources == ()
    rules = config.rules
    assert (rules.dormant_days, rules.management_chain, rules.subjects) == (60, True, "drop")
    assert rules.freemail_domains is None
    assert rules.weights == Weights()


def test_sources_and_weights(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + """
[rules]
dormant_days = 30
freemail_domains = ["gmail.com"]
[rules.weights]
meeting = 5
[[sources]]
kind = "maildir"
path = "exports/mail"
[[sources]]
kind = "gmail"
name = "gmail-eu"
mailboxes = ["a@corp.example"]
"""))
    assert config.rules.dormant_days == 30
    assert config.rules.freemail_domains == ("gmail.com",)
    assert config.rules.weights.meeting == 5.0 and config.rules.weights.email == 1.0
    maildir, gmail = config.sources
    assert (maildir.kind, maildir.name) == ("maildir", "maildir")
    assert maildir.path == config.path.parent / "exports" / "mail"
    assert (gmail.kind, gmail.name, gmail.path) == ("gmail", "gmail-eu", None)
    assert gmail.options == {"mailboxes": ["a@corp.example"]}


def _drop(text: str, line: str) -> str:
    assert line in text
    return text.replace(line, "")


# (case id, toml text, words that must appear in the message)
ERROR_CASES = [
    ("bad toml", MINIMAL + "[crm\n", "invalid TOML"),
    ("bad toml value", MINIMAL.replace('"crm/reps.csv"', "crm/reps.csv"), "invalid TOML"),
    ("missing company", _drop(MINIMAL, '[company]\ninternal_domains = ["Corp.Example", '
                                       '"bücher.example"]\n'), "missing section [company]"),
    ("missing crm", MINIMAL.split("[crm]")[0], "missing section [crm]"),
    ("crm not a table", 'crm = "x"\n' + MINIMAL.split("[crm]")[0], "[crm] must be a table"),
    ("missing crm accounts", _drop(MINIMAL, 'accounts = "crm/accounts.csv"\n'),
     "missing key 'accounts' in [crm]"),
    ("missing internal domains", MINIMAL.replace('internal_domains = ["Corp.Example", '
                                                 '"bücher.example"]', 'timezone = "UTC"'),
     "missing key 'internal_domains'"),
    ("empty internal domains", MINIMAL.replace('["Corp.Example", "bücher.example"]', "[]"),
     "non-empty list"),
    ("invalid internal domain", MINIMAL.replace('"Corp.Example"', '"not a domain"'),
     "invalid domain 'not a domain'"),
    ("bad timezone", MINIMAL.replace("[crm]", 'timezone = "Mars/Olympus"\n[crm]'),
     "unknown time zone 'Mars/Olympus'"),
    ("timezone not a string", MINIMAL.replace("[crm]", "timezone = 3\n[crm]"),
     "timezone must be a str"),
    ("unknown source kind", MINIMAL + '[[sources]]\nkind = "imap"\n',
     "kind 'imap' is not one of"),
    ("source without kind", MINIMAL + '[[sources]]\npath = "x"\n', "missing key 'kind'"),
    ("file source without path", MINIMAL + '[[sources]]\nkind = "mbox"\n', "needs path"),
    ("duplicate source name", MINIMAL + '[[sources]]\nkind = "eml"\npath = "a"\n'
     '[[sources]]\nkind = "eml"\npath = "b"\n', "duplicate source name 'eml'"),
    ("bad subjects", MINIMAL + '[rules]\nsubjects = "encrypt"\n', "subjects must be one of"),
    ("negative dormant days", MINIMAL + "[rules]\ndormant_days = -1\n", "dormant_days must be"),
    ("dormant days bool", MINIMAL + "[rules]\ndormant_days = true\n", "must be an integer"),
    ("unknown weight", MINIMAL + "[rules.weights]\nmeetings = 2\n", "unknown weight 'meetings'"),
    ("negative weight", MINIMAL + "[rules.weights]\nemail = -1\n", "email must be a number"),
    ("typo in a rules key", MINIMAL + "[rules]\ndormant_day = 30\n",
     "unknown key 'dormant_day' in [rules]"),
    ("typo in a section name", MINIMAL + "[rule]\ndormant_days = 30\n",
     "unknown key 'rule' in the top level"),
]


@pytest.mark.parametrize("case, text, words", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_config_errors_name_file_and_key(tmp_path, case, text, words):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_config(path)
    message = str(exc.value)
    if words == "invalid TOML":  # a syntax error also names its line
        assert message.startswith(f"{path}:{text.count(chr(10))}: "), message
    else:
        assert message.startswith(f"{path}: ")
    assert words in message


@pytest.mark.parametrize("text, line, words", [
    ('a = 1\nb = "open\n', 2, "Illegal character"),
    ('[company]\ninternal_domains = ["x.example"\ntimezone = "UTC"\n', 2,
     "this array is not closed"),
    ("[company]\nx = {a = 1,\n", 2, "(column 12)"),  # inline tables end on their line
    ('a = [1]\nb = ', 2, "Invalid value"),
    ('a = [1,\n2,\n\n', 1, "this array is not closed"),
    ('a = 1 b = 2\n', 1, "(column 7)"),
])
def test_toml_syntax_errors_name_the_line_of_the_mistake(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}:{line}: invalid TOML: "), str(exc.value)
    assert words in str(exc.value)


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}: config file not found"


def test_config_not_utf8(tmp_path):
    path = write(tmp_path, MINIMAL.replace("bücher", "b\u00fccher").encode("latin-1"))
    with pytest.raises(InputError) as exc:
        load_config(path)
    assert "not UTF-8" in str(exc.value)


def test_privacy_settings_defaults_and_errors(tmp_path):
    """Issue 19: [retention] raw_days (default 400, 0 = forever, never shorter than a week and
    its evidence), [publish] pseudonymise (a subset of the two kinds), [report] min_group."""
    config = load_config(write(tmp_path, MINIMAL))
    assert (config.privacy.raw_days, config.privacy.pseudonymise, config.privacy.min_group) == (
        400, (), 0)
    ok = load_config(write(tmp_path, MINIMAL + '[retention]\nraw_days = 0\n[publish]\n'
                           'pseudonymise = ["rep_addresses", "customer_addresses"]\n'
                           '[report]\nmin_group = 5\n'))
    assert ok.privacy.raw_days == 0 and ok.privacy.min_group == 5
    assert ok.privacy.pseudonymise == ("customer_addresses", "rep_addresses")
    for extra, words in (("[retention]\nraw_days = 30\n", "at least 67"),
                         ("[retention]\nraw_days = -1\n", "raw_days"),
                         ("[retention]\nraw_day = 500\n", "raw_day"),
                         ('[publish]\npseudonymise = ["names"]\n', "names"),
                         ("[report]\nmin_group = -2\n", "min_group")):
        with pytest.raises(InputError) as err:
            load_config(write(tmp_path, MINIMAL + extra))
        assert words in str(err.value), extra
