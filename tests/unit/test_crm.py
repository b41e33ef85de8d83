"""CRM import: tables, columns, CSV quirks, every error naming file/line/column, init templates."""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pytest

from overlap.config import FILE_KINDS, SOURCE_KINDS, Weights, load_config
from overlap.crm import TEMPLATE_FILES, load_crm, write_init_templates
from overlap.domains import FREEMAIL_DOMAINS
from overlap.errors import InputError

ACCOUNTS = """\
account_id,account_name,owner_email,domains,team_emails
A1,Acme,jane@corp.example,acme.com;eu.acme.com,sam@corp.example
A2,Globex,john@corp.example,globex.com,
"""
REPS = """\
email,name,manager_email,team,aliases,active
jane@corp.example,Jane Doe,maria@corp.example,Enterprise,jd@corp.example,true
john@corp.example,John Smith,maria@corp.example,Mid-Market,,
sam@corp.example,Sam Lee,jane@corp.example,Solutions,,no
maria@corp.example,Maria Chen,,Leadership,,
"""
CONTACTS = """\
email,account_id
pat@gmail.com,A1
"""

# docs/architecture.md section 3, exactly.
EXPECTED_COLUMNS = {
    "crm_accounts": ["account_id", "account_name", "owner_email", "line"],
    "crm_account_domains": ["account_id", "domain", "line"],
    "crm_account_team": ["account_id", "rep_email"],
    "crm_reps": ["email", "name", "manager_email", "team", "active", "line"],
    "crm_rep_aliases": ["alias", "rep_email"],
    "crm_contacts": ["email", "account_id", "line"],
    "crm_ownership": ["account_id", "owner_email", "valid_from", "line"],
    "crm_approvals": ["account_id", "rep_email", "valid_from", "valid_until", "reason", "line"],
    "company_domains": ["domain"],
    "freemail_domains": ["domain"],
    "crm_notes": ["note"],
}


def write_project(root: Path, *, accounts: str | bytes = ACCOUNTS, reps: str | bytes = REPS,
                  contacts: str | bytes | None = CONTACTS, extra_toml: str = "",
                  internal: str = '["corp.example"]'):
    """Write overlap.toml + crm/*.csv under ``root`` and return the loaded Config."""
    crm = root / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    for name, content in (("accounts.csv", accounts), ("reps.csv", reps),
                          ("contacts.csv", contacts)):
        if content is None:
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        (crm / name).write_bytes(data)
    contacts_line = 'contacts = "crm/contacts.csv"\n' if contacts is not None else ""
    (root / "overlap.toml").write_text(
        f"[company]\ninternal_domains = {internal}\n"
        '[crm]\naccounts = "crm/accounts.csv"\nreps = "crm/reps.csv"\n'
        + contacts_line + extra_toml, "utf-8")
    return load_config(root / "overlap.toml")


def rows(snapshot, table):
    return snapshot.tables[table].to_pylist()


# ---- the happy path ----------------------------------------------------------------------------

def test_tables_and_columns_are_exactly_the_contract(tmp_path):
    snap = load_crm(write_project(tmp_path))
    assert {name: t.column_names for name, t in snap.tables.items()} == EXPECTED_COLUMNS
    for name, table in snap.tables.items():
        for f in table.schema:
            want = {"active": pa.bool_(), "line": pa.int32(),
                    "valid_from": pa.timestamp("us", "UTC"),
                    "valid_until": pa.timestamp("us", "UTC")}.get(f.name, pa.string())
            assert f.type == want, (name, f.name)


def test_values_are_normalized_and_lines_are_physical(tmp_path):
    snap = load_crm(write_project(tmp_path))
    assert rows(snap, "crm_accounts") == [
        {"account_id": "A1", "account_name": "Acme", "owner_email": "jane@corp.example", "line": 2},
        {"account_id": "A2", "account_name": "Globex", "owner_email": "john@corp.example",
         "line": 3},
    ]
    assert rows(snap, "crm_account_domains") == [
        {"account_id": "A1", "domain": "acme.com", "line": 2},
        {"account_id": "A1", "domain": "eu.acme.com", "line": 2},
        {"account_id": "A2", "domain": "globex.com", "line": 3},
    ]
    assert rows(snap, "crm_account_team") == [{"account_id": "A1", "rep_email": "sam@corp.example"}]
    reps = {r["email"]: r for r in rows(snap, "crm_reps")}
    assert reps["jane@corp.example"] == {"email": "jane@corp.example", "name": "Jane Doe",
                                         "manager_email": "maria@corp.example",
                                         "team": "Enterprise", "active": True, "line": 2}
    assert reps["john@corp.example"]["active"] is True  # empty means true
    assert reps["sam@corp.example"]["active"] is False
    assert reps["maria@corp.example"]["manager_email"] is None
    assert rows(snap, "crm_rep_aliases") == [{"alias": "jd@corp.example",
                                              "rep_email": "jane@corp.example"}]
    assert rows(snap, "crm_contacts") == [{"email": "pat@gmail.com", "account_id": "A1", "line": 2}]
    assert rows(snap, "company_domains") == [{"domain": "corp.example"}]
    assert sorted(r["domain"] for r in rows(snap, "freemail_domains")) == sorted(FREEMAIL_DOMAINS)
    assert snap.counts == {"accounts": 2, "reps": 4, "contacts": 1}


def test_normalization_of_messy_cells(tmp_path):
    accounts = ("Account_ID , Account_Name,OWNER_EMAIL,domains,team_emails\n"
                "  A1 ,  Acme  , <Jane@CORP.example> , @ACME.com ; ; Bücher.example ;acme.com.,"
                " SAM@corp.example ;;sam@corp.example\n")
    snap = load_crm(write_project(tmp_path, accounts=accounts))
    assert rows(snap, "crm_accounts")[0] == {"account_id": "A1", "account_name": "Acme",
                                             "owner_email": "jane@corp.example", "line": 2}
    assert [r["domain"] for r in rows(snap, "crm_account_domains")] == [
        "acme.com", "xn--bcher-kva.example"]  # duplicates after normalization dropped
    assert rows(snap, "crm_account_team") == [{"account_id": "A1", "rep_email": "sam@corp.example"}]


def test_bom_crlf_extra_columns_and_blank_lines(tmp_path):
    accounts = ("\ufeffaccount_id,region,account_name,owner_email,domains,team_emails,notes\r\n"
                "A1,EMEA,Acme,jane@corp.example,acme.com,,x\r\n"
                "\r\n"
                "A2,US,Globex,john@corp.example,globex.com,,\"multi\r\nline note\"\r\n"
                "A3,US,Initech,john@corp.example,initech.com\r\n")  # short row: missing cells empty
    snap = load_crm(write_project(tmp_path, accounts=accounts))
    assert [(r["account_id"], r["line"]) for r in rows(snap, "crm_accounts")] == [
        ("A1", 2), ("A2", 4), ("A3", 6)]  # A2's note spans lines 4-5
    assert "region" not in snap.tables["crm_accounts"].column_names


def test_quoted_newline_line_numbers_in_errors(tmp_path):
    accounts = ACCOUNTS + 'A3,"Multi\nLine",jane@corp.example,acme.org,\nA4,X,not-an-address,x.com,\n'
    with pytest.raises(InputError) as exc:
        load_crm(write_project(tmp_path, accounts=accounts))
    assert (exc.value.line, exc.value.field) == (6, "owner_email")


def test_account_ids_are_case_sensitive(tmp_path):
    accounts = ACCOUNTS + "a1,Lower-case id,jane@corp.example,other.com,\n"
    snap = load_crm(write_project(tmp_path, accounts=accounts))
    assert [r["account_id"] for r in rows(snap, "crm_accounts")] == ["A1", "A2", "a1"]


def test_account_without_domains_is_allowed(tmp_path):
    accounts = ACCOUNTS + "A3,Contacts Only,jane@corp.example,,\n"
    contacts = CONTACTS + "boss@yahoo.com,A3\n"
    snap = load_crm(write_project(tmp_path, accounts=accounts, contacts=contacts))
    assert "A3" in [r["account_id"] for r in rows(snap, "crm_accounts")]
    assert "A3" not in [r["account_id"] for r in rows(snap, "crm_account_domains")]
    assert {"email": "boss@yahoo.com", "account_id": "A3", "line": 3} in rows(snap, "crm_contacts")


def test_contacts_file_is_optional(tmp_path):
    config = write_project(tmp_path, contacts=None)
    assert config.contacts_csv is None
    snap = load_crm(config)
    assert snap.tables["crm_contacts"].num_rows == 0
    assert snap.tables["crm_contacts"].column_names == EXPECTED_COLUMNS["crm_contacts"]
    assert snap.counts["contacts"] == 0


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("TRUE", True), ("yes", True), ("Yes", True), ("1", True), ("", True),
    (" false ", False), ("no", False), ("NO", False), ("0", False),
])
def test_active_values(tmp_path, value, expected):
    reps = f"email,name,manager_email,team,aliases,active\njane@corp.example,J,,,,{value}\n"
    snap = load_crm(write_project(tmp_path, reps=reps))
    assert rows(snap, "crm_reps")[0]["active"] is expected


def test_active_column_may_be_absent(tmp_path):
    reps = "email,name,manager_email,team,aliases\njane@corp.example,J,,,\n"
    snap = load_crm(write_project(tmp_path, reps=reps))
    assert rows(snap, "crm_reps")[0]["active"] is True


def test_alias_may_name_a_later_rep_only_if_not_a_rep_and_own_address_is_ignored(tmp_path):
    reps = ("email,name,manager_email,team,aliases,active\n"
            "jane@corp.example,J,,,jane@corp.example;JD@corp.example;jd@corp.example,\n"
            "john@corp.example,John,,,,\n")
    snap = load_crm(write_project(tmp_path, reps=reps))
    assert rows(snap, "crm_rep_aliases") == [{"alias": "jd@corp.example",
                                              "rep_email": "jane@corp.example"}]


def test_same_contact_twice_on_the_same_account_is_kept_once(tmp_path):
    contacts = CONTACTS + "PAT@gmail.com,A1\n"
    snap = load_crm(write_project(tmp_path, contacts=contacts))
    assert rows(snap, "crm_contacts") == [{"email": "pat@gmail.com", "account_id": "A1", "line": 2}]


def test_freemail_override_from_config(tmp_path):
    config = write_project(tmp_path, extra_toml='[rules]\nfreemail_domains = ["Mail.Example"]\n')
    snap = load_crm(config)
    assert rows(snap, "freemail_domains") == [{"domain": "mail.example"}]


# ---- findings that are not errors: kept for the SQL model's data-quality report -------------

def test_non_errors_are_kept(tmp_path):
    accounts = (
        "account_id,account_name,owner_email,domains,team_emails\n"
        "A1,Acme,jane@corp.example,acme.com;gmail.com,ghost@corp.example\n"  # free-mail domain
        "A2,Acme Dup,jd@corp.example,acme.com,\n"  # same domain on two accounts; owner = alias
        "A3,Orphan,nobody@corp.example,orphan.com,\n"  # owner not in reps.csv
    )
    reps = ("email,name,manager_email,team,aliases,active\n"
            "jane@corp.example,Jane,vp@corp.example,,jd@corp.example,\n")  # manager not in reps
    snap = load_crm(write_project(tmp_path, accounts=accounts, reps=reps, contacts=None))
    domains = [(r["account_id"], r["domain"]) for r in rows(snap, "crm_account_domains")]
    assert ("A1", "gmail.com") in domains
    assert ("A1", "acme.com") in domains and ("A2", "acme.com") in domains
    owners = {r["account_id"]: r["owner_email"] for r in rows(snap, "crm_accounts")}
    assert owners == {"A1": "jane@corp.example", "A2": "jd@corp.example",
                      "A3": "nobody@corp.example"}
    assert rows(snap, "crm_account_team") == [{"account_id": "A1",
                                               "rep_email": "ghost@corp.example"}]
    assert rows(snap, "crm_reps")[0]["manager_email"] == "vp@corp.example"


# ---- errors: file, line and column named --------------------------------------------------------

A_HEAD = "account_id,account_name,owner_email,domains,team_emails\n"
R_HEAD = "email,name,manager_email,team,aliases,active\n"
C_HEAD = "email,account_id\n"

# (case id, file, content, line, column, words in the message)
ERROR_CASES = [
    ("accounts missing column", "accounts", "account_id,account_name,owner_email,domains\n",
     1, "team_emails", "missing column"),
    ("accounts header typo", "accounts", "account_id,account_name,owner,domains,team_emails\n",
     1, "owner_email", "missing column"),
    ("semicolon separated", "accounts",
     "account_id;account_name;owner_email;domains;team_emails\nA1;Acme;j@corp.example;a.com;\n",
     1, "account_id", ";-separated"),
    ("duplicate header column", "accounts",
     "account_id,account_name,owner_email,domains,team_emails,Account_ID\n", 1, "account_id",
     "twice"),
    ("empty account_id", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme.com,\n"
     + "  ,Nameless,jane@corp.example,x.com,\n", 3, "account_id", "empty"),
    ("duplicate account_id", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme.com,\n"
     + "B,Other,jane@corp.example,b.com,\nA1,Acme 2,jane@corp.example,acme2.com,\n",
     4, "account_id", "first on line 2"),
    ("empty owner", "accounts", A_HEAD + "A1,Acme,,acme.com,\n", 2, "owner_email", "empty"),
    ("malformed owner", "accounts", A_HEAD + "A1,Acme,jane.corp.example,acme.com,\n",
     2, "owner_email", "'jane.corp.example'"),
    ("malformed team email", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme.com,"
     "sam@corp.example;sam at corp\n", 2, "team_emails", "'sam at corp'"),
    ("comma inside a list", "accounts", A_HEAD + 'A1,Acme,jane@corp.example,"acme.com, acme.de",\n',
     2, "domains", ";-separated"),
    ("invalid domain", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme..com,\n",
     2, "domains", "invalid domain 'acme..com'"),
    ("invalid domain chars", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme!.com,\n",
     2, "domains", "invalid domain"),
    ("single label", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme,\n",
     2, "domains", "invalid domain 'acme'"),
    ("public suffix co.uk", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme.co.uk;co.uk,\n",
     2, "domains", "is a public suffix; list the customer's own domain"),
    ("public suffix com", "accounts", A_HEAD + "A1,Acme,jane@corp.example,com,\n",
     2, "domains", "'com' is a public suffix"),
    ("public suffix @.com", "accounts", A_HEAD + "A1,Acme,jane@corp.example,@com,\n",
     2, "domains", "is a public suffix"),
    ("private public suffix", "accounts", A_HEAD + "A1,Acme,jane@corp.example,github.io,\n",
     2, "domains", "is a public suffix"),
    ("reps missing column", "reps", "email,name,manager_email,team\n", 1, "aliases",
     "missing column"),
    ("empty rep email", "reps", R_HEAD + "jane@corp.example,J,,,,\n,Nobody,,,,\n", 3, "email",
     "empty"),
    ("malformed rep email", "reps", R_HEAD + "jane@,J,,,,\n", 2, "email", "'jane@'"),
    ("duplicate rep", "reps", R_HEAD + "jane@corp.example,J,,,,\nJANE@corp.example,J2,,,,\n",
     3, "email", "first on line 2"),
    ("malformed manager", "reps", R_HEAD + "jane@corp.example,J,boss,,,\n", 2, "manager_email",
     "'boss'"),
    ("own manager", "reps", R_HEAD + "jane@corp.example,J,Jane@corp.example,,,\n", 2,
     "manager_email", "own manager"),
    ("malformed alias", "reps", R_HEAD + "jane@corp.example,J,,,jd@;x@corp.example,\n", 2,
     "aliases", "'jd@'"),
    ("alias is another rep", "reps", R_HEAD + "jane@corp.example,J,,,john@corp.example,\n"
     "john@corp.example,John,,,,\n", 2, "aliases", "another rep (line 3)"),
    ("alias claimed twice", "reps", R_HEAD + "jane@corp.example,J,,,sales@corp.example,\n"
     "john@corp.example,John,,,Sales@corp.example,\n", 3, "aliases",
     "also claimed by jane@corp.example (line 2)"),
    ("bad active", "reps", R_HEAD + "jane@corp.example,J,,,,maybe\n", 2, "active", "'maybe'"),
    ("contacts missing column", "contacts", "email,account\n", 1, "account_id",
     "missing column"),
    ("malformed contact", "contacts", C_HEAD + "pat@gmail.com,A1\npat(at)gmail.com,A1\n", 3,
     "email", "invalid email address"),
    ("empty contact email", "contacts", C_HEAD + ",A1\n", 2, "email", "empty"),
    ("unknown account", "contacts", C_HEAD + "pat@gmail.com,A9\n", 2, "account_id",
     "unknown account_id 'A9'"),
    ("empty contact account", "contacts", C_HEAD + "pat@gmail.com,\n", 2, "account_id", "empty"),
    ("contact on two accounts", "contacts", C_HEAD + "pat@gmail.com,A1\nx@y.com,A1\n"
     "Pat@Gmail.com,A2\n", 4, "email", "already on account 'A1' (line 2)"),
    ("not utf-8", "accounts", (A_HEAD + "A1,Acme,jane@corp.example,acme.com,\n").encode()
     + "A2,Soci\u00e9t\u00e9,jane@corp.example,societe.fr,\n".encode("latin-1"), 3,
     "account_name", "not UTF-8"),
    ("not utf-8 in an extra column", "accounts",
     b"account_id,account_name,owner_email,domains,team_emails,notes\n"
     b"A1,Acme,jane@corp.example,acme.com,,\n\nA2,G,jane@corp.example,g.com,,caf\xe9\n",
     4, "notes", "not UTF-8"),
    ("nul byte", "accounts", A_HEAD + "A1,Acme\x00,jane@corp.example,acme.com,\n", 2, None,
     "NUL byte"),
    ("unclosed quote", "accounts", A_HEAD + "A1,Acme,jane@corp.example,acme.com,\n"
     'A2,"Globex,john@corp.example,globex.com,\nA3,Initech,jane@corp.example,initech.com,\n',
     3, None, "malformed CSV"),
    ("text after closing quote", "reps", R_HEAD + 'jane@corp.example,"Jane" Doe,,,,\n', 2, None,
     "malformed CSV"),
    ("huge cell", "contacts", C_HEAD + "pat@gmail.com," + "x" * 200_000 + "\n", 2, None,
     "field larger"),
    ("utf-16", "accounts", A_HEAD.encode("utf-16"), 1, None, "UTF-16"),
    ("utf-16 without bom", "reps", R_HEAD.encode("utf-16-le"), 1, None, "NUL byte"),
]


@pytest.mark.parametrize("case, which, content, line, column, words", ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_error_names_file_line_and_column(tmp_path, case, which, content, line, column, words):
    config = write_project(tmp_path, **{which: content})
    with pytest.raises(InputError) as exc:
        load_crm(config)
    err = exc.value
    path = str(tmp_path / "crm" / f"{which}.csv")
    assert err.file == path
    assert (err.line, err.field) == (line, column)
    message = str(err)
    assert message.startswith(f"{path}:{line}: ")
    if column:
        assert f"column '{column}'" in message
    assert words in message


def test_empty_file(tmp_path):
    with pytest.raises(InputError) as exc:
        load_crm(write_project(tmp_path, reps=""))
    assert str(exc.value).startswith(str(tmp_path / "crm" / "reps.csv") + ":1: ")
    assert "header" in str(exc.value)


@pytest.mark.parametrize("which", ["accounts", "reps", "contacts"])
def test_missing_file(tmp_path, which):
    config = write_project(tmp_path)
    (tmp_path / "crm" / f"{which}.csv").unlink()
    with pytest.raises(InputError) as exc:
        load_crm(config)
    assert str(exc.value) == f"{tmp_path / 'crm' / f'{which}.csv'}: file not found"


def test_internal_domain_that_is_a_public_suffix(tmp_path):
    config = write_project(tmp_path, internal='["co.uk"]')
    with pytest.raises(InputError) as exc:
        load_crm(config)
    assert exc.value.file == str(tmp_path / "overlap.toml")
    assert "internal_domains" in str(exc.value) and "public suffix" in str(exc.value)


def test_bad_freemail_override_names_the_config(tmp_path):
    config = write_project(tmp_path, extra_toml='[rules]\nfreemail_domains = ["gmail"]\n')
    with pytest.raises(InputError) as exc:
        load_crm(config)
    assert str(exc.value).startswith(str(tmp_path / "overlap.toml") + ": 'freemail_domains': ")


def test_an_error_leaves_the_input_files_untouched(tmp_path):
    bad_contacts = C_HEAD + "pat@gmail.com,NOPE\n"
    config = write_project(tmp_path, contacts=bad_contacts)
    before = {p: p.read_bytes() for p in (tmp_path / "crm").iterdir()}
    with pytest.raises(InputError):
        load_crm(config)
    assert {p: p.read_bytes() for p in (tmp_path / "crm").iterdir()} == before


# ---- overlap init templates -------------------------------------------------------------------

def test_init_templates_load(tmp_path):
    written = write_init_templates(tmp_path / "proj")
    assert written == [tmp_path / "proj" / rel for rel in TEMPLATE_FILES]
    config = load_config(tmp_path / "proj" / "overlap.toml")
    assert config.internal_domains == ("corp.example",)
    assert config.contacts_csv == (tmp_path / "proj" / "crm" / "contacts.csv").resolve()
    assert (config.rules.dormant_days, config.rules.management_chain, config.rules.subjects) == (
        60, True, "drop")
    # README: "put your exports in DIR/exports/<mailbox address>/": every file kind reads there
    assert [(s.kind, s.path) for s in config.sources] == [
        (kind, (tmp_path / "proj" / "exports").resolve()) for kind in FILE_KINDS]
    snap = load_crm(config)
    assert snap.counts == {"accounts": 3, "reps": 3, "contacts": 2}
    for table in ("crm_account_domains", "crm_rep_aliases", "crm_account_team"):
        assert snap.tables[table].num_rows >= 1, table


def _uncomment(text: str) -> str:
    # Commented-out settings are "#key", "#[section]" or "#[[sources]]": no space after '#'.
    return "\n".join(line[1:] if line.startswith("#") and line[1:2] not in ("", " ", "#", "-")
                     else line for line in text.splitlines())


def test_init_template_commented_settings_are_valid_and_weights_are_the_defaults(tmp_path):
    write_init_templates(tmp_path)
    toml = tmp_path / "overlap.toml"
    toml.write_text(_uncomment(toml.read_text("utf-8")), "utf-8")
    doc = tomllib.loads(toml.read_text("utf-8"))
    assert doc["rules"]["weights"] == asdict(Weights())  # every weight, at its default
    config = load_config(toml)
    assert sorted(s.kind for s in config.sources) == sorted(SOURCE_KINDS)
    assert config.rules.weights == Weights()


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "reps.csv").write_text("mine", "utf-8")
    with pytest.raises(InputError) as exc:
        write_init_templates(tmp_path)
    assert exc.value.file == str(tmp_path / "crm" / "reps.csv")
    assert "already exists" in str(exc.value)
    assert not (tmp_path / "overlap.toml").exists()
    assert (tmp_path / "crm" / "reps.csv").read_text("utf-8") == "mine"


def test_snapshot_inserts_into_the_warehouse_schema(tmp_path):
    # The contract with sql/schema: every table inserts by name, NOT NULL columns hold.
    import duckdb

    schema_files = sorted((Path(__file__).resolve().parents[2] / "sql" / "schema").glob("*.sql"))
    assert schema_files
    snap = load_crm(write_project(tmp_path))
    con = duckdb.connect()
    for f in schema_files:
        con.execute(f.read_text("utf-8")).complete()
    for name, table in snap.tables.items():
        con.register("batch", table)
        con.execute(f"insert into {name} by name select * from batch").complete()  # noqa: S608
        con.unregister("batch")
        assert con.execute(f"select count(*) from {name}").fetchall() == [(table.num_rows,)]  # noqa: S608
