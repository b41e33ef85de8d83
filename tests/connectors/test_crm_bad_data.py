"""Bad data from a CRM's API gives the same findings and errors as the same data in the CSV
export (issue 17): a website that is a public suffix, a free-mail website, a user without an
email address, a contact on two accounts. The error names the CRM record instead of a line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from overlap.crm import CrmSnapshot, load_crm
from overlap.errors import InputError
from tests.connectors.crm_org import ACCOUNTS, CONTACTS, REPS, served, write_org

KINDS = ("salesforce", "hubspot")
_RECORD = re.compile(r" \((?:User|Account|Contact|AccountHistory|owner|company|contact) "
                     r"[^()]*\)$")


def _core(message: str) -> str:
    """An error message without where it was found (a CSV line, or the CRM record)."""
    return re.sub(r"\((first on )?line \d+\)", "(line)", _RECORD.sub("", message))


def _errors(config_csv, kind: str, tmp_path: Path) -> tuple[InputError, InputError]:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as csv_error:
        load_crm(config_csv)
    with served(config_csv, kind, tmp_path) as (_, config), pytest.raises(InputError) as api:
        load_crm(config)
    return csv_error.value, api.value


@pytest.mark.parametrize("kind", KINDS)
def test_public_suffix_website(kind: str, tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace("account_id,", "website,account_id,", 1)
    lines = accounts.splitlines()
    lines = [lines[0]] + [("http://co.uk/," if ",Globex," in line else ",") + line
                          for line in lines[1:]]
    accounts = "\n".join(lines).replace("globex.example", "co.uk") + "\n"
    config = write_org(tmp_path / "org", accounts=accounts)
    csv_error, api_error = _errors(config, kind, tmp_path)
    assert "'co.uk' is a public suffix" in csv_error.message
    assert _core(api_error.message) == _core(csv_error.message)
    assert api_error.field == csv_error.field == "domains"
    assert api_error.file == f"{kind} accounts"
    assert api_error.message.endswith("(Account A2)" if kind == "salesforce" else "(company A2)")


def _tables(crm: CrmSnapshot) -> dict[str, list[str]]:
    return {name: sorted(map(str, t.select([c for c in t.column_names
                                            if c not in ("line", "source")]).to_pylist()))
            for name, t in crm.tables.items() if name != "crm_ownership"}


@pytest.mark.parametrize("kind", KINDS)
def test_free_mail_website_is_kept_as_a_finding(kind: str, tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace("globex.example", "gmail.com")
    config = write_org(tmp_path / "org", accounts=accounts)
    csv_crm = load_crm(config)
    with served(config, kind, tmp_path) as (_, api_config):
        api_crm = load_crm(api_config)
    assert ("A2", "gmail.com") in {(r["account_id"], r["domain"]) for r in
                                   api_crm.tables["crm_account_domains"].to_pylist()}
    assert "gmail.com" in api_crm.tables["freemail_domains"].column("domain").to_pylist()
    assert _tables(api_crm) == _tables(csv_crm)


@pytest.mark.parametrize("kind", KINDS)
def test_user_without_email(kind: str, tmp_path: Path) -> None:
    reps = REPS + ",No Email,vera@corp.example,East,,true\n"
    config = write_org(tmp_path / "org", reps=reps)
    csv_error, api_error = _errors(config, kind, tmp_path)
    assert "is empty; an email address is required" in csv_error.message
    assert _core(api_error.message) == _core(csv_error.message)
    assert api_error.field == csv_error.field == "email"
    assert api_error.file == f"{kind} users"


@pytest.mark.parametrize("kind", KINDS)
def test_contact_on_two_accounts(kind: str, tmp_path: Path) -> None:
    contacts = CONTACTS + "jane@gmail.com,A2\n"
    config = write_org(tmp_path / "org", contacts=contacts)
    csv_error, api_error = _errors(config, kind, tmp_path)
    assert "contact jane@gmail.com is already on account 'A1'" in csv_error.message
    assert _core(api_error.message) == _core(csv_error.message)
    assert api_error.field == csv_error.field == "email"
