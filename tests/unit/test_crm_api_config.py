"""``[crm] kind`` and the ``[crm.salesforce]`` / ``[crm.hubspot]`` tables (issue 17), and the
CRM's credentials from an Airflow connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overlap.config import load_config
from overlap.connections import credentials_from_connection, crm_credentials
from overlap.errors import InputError
from overlap.sources import CRM_KINDS

HEAD = '[company]\ninternal_domains = ["corp.example"]\n'


def _config(tmp_path: Path, crm: str) -> Path:
    path = tmp_path / "overlap.toml"
    path.write_text(HEAD + crm, encoding="utf-8")
    return path


def test_api_kind_needs_no_csv_and_resolves_files(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, '[crm]\nkind = "salesforce"\n[crm.salesforce]\n'
                                 'client_id = "abc"\nusername = "i@corp.example"\n'
                                 'private_key_file = "keys/sf.pem"\nteam_roles = ["Sales"]\n'))
    assert config.crm_kind == "salesforce"
    assert config.accounts_csv is None and config.reps_csv is None
    assert config.crm_options["private_key_file"] == str(tmp_path / "keys" / "sf.pem")
    assert config.crm_options["team_roles"] == ["Sales"]


def test_hubspot_may_keep_reps_csv(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, '[crm]\nkind = "hubspot"\nreps = "crm/reps.csv"\n'))
    assert config.reps_csv == tmp_path / "crm" / "reps.csv" and config.crm_options == {}


def test_csv_is_the_default_kind(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, '[crm]\naccounts = "a.csv"\nreps = "r.csv"\n'))
    assert config.crm_kind == "csv" and config.accounts_csv == tmp_path / "a.csv"


@pytest.mark.parametrize("crm,message", [
    ('[crm]\nkind = "zoho"\n', "kind 'zoho' is not one of csv, salesforce, hubspot"),
    ('[crm]\nkind = "salesforce"\naccounts = "a.csv"\n', "[crm] accounts is for CSV files"),
    ('[crm]\nkind = "hubspot"\nownership = "o.csv"\n', "[crm] ownership is for CSV files"),
    ('[crm]\nkind = "salesforce"\n[crm.hubspot]\nbase_url = "x"\n',
     "[crm.hubspot] is set but [crm] kind is 'salesforce'"),
    ('[crm]\nkind = "hubspot"\n[crm.hubspot]\ntoken = "pat-secret"\n',
     "unknown key 'token' in [crm.hubspot]"),
    ('[crm]\nreps = "r.csv"\n', "missing key 'accounts' in [crm]"),
])
def test_bad_crm_settings(tmp_path: Path, crm: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_config(_config(tmp_path, crm))
    assert message in str(info.value)
    assert "pat-secret" not in str(info.value)


class _Conn:
    def __init__(self, conn_id: str, **fields: Any) -> None:
        self.conn_id = conn_id
        self.host = fields.get("host")
        self.login = fields.get("login")
        self.password = fields.get("password")
        self.port = None
        self.extra_dejson = fields.get("extra", {})


def test_crm_credentials_from_connections(tmp_path: Path) -> None:
    sf = _Conn("overlap_salesforce", login="i@corp.example", password="-----BEGIN KEY",
               extra={"client_id": "3MVG"}, host="https://acme.my.salesforce.com")
    assert credentials_from_connection("salesforce", sf) == {
        "username": "i@corp.example", "client_id": "3MVG", "private_key": "-----BEGIN KEY",
        "login_url": "https://acme.my.salesforce.com"}
    hs = _Conn("overlap_hubspot", password="pat-na1-x")
    assert credentials_from_connection("hubspot", hs) == {"token": "pat-na1-x"}
    with pytest.raises(InputError) as info:
        credentials_from_connection("salesforce", _Conn("c", password="-----BEGIN KEY"))
    assert "BEGIN KEY" not in str(info.value)

    config = load_config(_config(tmp_path, '[crm]\nkind = "hubspot"\n'))
    conns = {"overlap_hubspot": hs}
    assert crm_credentials(config, conns.get) == {"token": "pat-na1-x"}
    assert crm_credentials(config, {}.get) is None  # the connector reads token_file/_env
    named = load_config(_config(tmp_path, '[crm]\nkind = "hubspot"\n[crm.hubspot]\n'
                                'airflow_conn_id = "hs_prod"\n'))
    with pytest.raises(InputError, match="'hs_prod' not found"):
        crm_credentials(named, conns.get)
    assert set(CRM_KINDS) == {"salesforce", "hubspot"}
