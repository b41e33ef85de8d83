"""Secrets of the CRM connectors — the connected app's private key, the access tokens the
sandbox issued, HubSpot's private-app token — never reach logs, exceptions or the output of
``overlap crm check`` (issue 17), also when tokens expire, requests fail and the login is
refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from overlap.cli import main
from overlap.crm import load_crm
from overlap.errors import InputError
from tests.connectors.crm_org import served, write_org


def _secrets(server: object) -> list[str]:
    found: list[str] = []
    key_file = getattr(server, "key_file", None)
    if key_file is not None:
        pem = Path(key_file).read_text(encoding="utf-8")
        found += [line for line in pem.splitlines() if not line.startswith("-----")][:3]
    found += list(getattr(server, "issued", []))
    token = getattr(server, "token", None)
    if token:
        found.append(token)
    assert len(found) >= (5 if key_file is not None else 1)  # key lines + 2 sessions
    return found


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_no_secret_in_logs_output_or_errors(kind: str, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = write_org(tmp_path / "org")
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with served(config, kind, tmp_path) as (server, api_config):
        if kind == "salesforce":
            server.inject("token", after=2)
        server.inject("503", count=2, after=1)
        assert main(["crm", "check", "--config", str(api_config.path)]) == 0
        server.inject("token", count=100)  # revoked for good: the read fails
        with pytest.raises(InputError) as failed:
            load_crm(api_config)
        texts.append(str(failed.value))
        secrets = _secrets(server)
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text]
    assert "CRM (" in out.out and "retries" in out.out
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_a_wrong_private_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = write_org(tmp_path / "org")
    with served(config, "salesforce", tmp_path) as (server, api_config):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode("ascii")
        Path(server.key_file).write_text(pem, encoding="utf-8")
        with pytest.raises(InputError) as refused:
            load_crm(api_config)
        assert server.counts["token"] == 1 and server.counts["query"] == 0
    message = str(refused.value)
    assert "JWT bearer login was refused" in message and "invalid assertion" in message
    for line in pem.splitlines()[1:4]:
        assert line not in message
