"""Domain rules: the official Public Suffix List vectors, the free-mail list, internal domains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.addresses import normalize_domain
from overlap.domains import (
    FREEMAIL_DOMAINS,
    freemail_domains,
    is_freemail,
    is_internal,
    is_public_suffix,
    registrable_domain,
)
from overlap.errors import InputError

_CHECK = re.compile(r"^checkPublicSuffix\((null|'[^']*'),\s*(null|'[^']*')\);$")


def _value(token: str) -> str | None:
    return None if token == "null" else token.strip("'")


def _vectors_txt(path: Path) -> list[tuple[str | None, str | None]]:
    """tests.txt: ``input expected`` pairs; ``null`` is None; ``//`` lines are comments."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        given, expected = line.split()
        out.append((_value(given), _value(expected)))
    return out


def _vectors_js(path: Path) -> list[tuple[str | None, str | None]]:
    """test_psl.txt: ``checkPublicSuffix('input', 'expected');``; commented-out calls skipped."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        m = _CHECK.match(line)
        assert m, f"unparsed vector line: {line!r}"
        out.append((_value(m.group(1)), _value(m.group(2))))
    return out


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> dict[str, list[tuple[str | None, str | None]]]:
    psl = shared_data / "psl"
    return {"tests.txt": _vectors_txt(psl / "tests.txt"),
            "test_psl.txt": _vectors_js(psl / "test_psl.txt")}


@pytest.mark.parametrize("name", ["tests.txt", "test_psl.txt"])
def test_every_official_psl_vector_passes(vectors, name):
    cases = vectors[name]
    assert len(cases) >= 75  # the file was really read
    failures = [(given, expected, registrable_domain(given)) for given, expected in cases
                if registrable_domain(given) != expected]
    assert failures == []


def test_the_two_vector_files_agree(vectors):
    assert vectors["tests.txt"] == vectors["test_psl.txt"]


def test_vectors_imply_public_suffixes(vectors):
    # For every registrable answer, it is not a public suffix but its parent is.
    checked = 0
    for _, expected in vectors["tests.txt"]:
        if expected is None:
            continue
        assert not is_public_suffix(expected), expected
        assert is_public_suffix(expected.split(".", 1)[1]), expected
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("domain, expected", [
    ("com", True),
    ("COM", True),
    ("co.uk", True),
    ("co.uk.", True),  # trailing root dot
    ("uk.com", True),
    ("github.io", True),  # private section counts
    ("blogspot.com", True),
    ("example", True),  # unlisted TLD: the implicit "*" rule
    ("公司.cn", True),
    ("xn--55qx5d.cn", True),
    ("c.mm", True),  # wildcard
    ("www.ck", False),  # wildcard exception
    ("acme.com", False),
    ("acme.co.uk", False),
    ("eu.acme.com", False),
    ("onmicrosoft.com", False),
    ("corp.example", False),
    ("", False),
    (".com", False),
    ("a..com", False),
])
def test_is_public_suffix(domain, expected):
    assert is_public_suffix(domain) is expected


@pytest.mark.parametrize("domain, expected", [
    ("com", True), ("co.uk", True), ("acme", False), ("acme.com", False),
])
def test_is_public_suffix_listed_only(domain, expected):
    assert is_public_suffix(domain, listed_only=True) is expected


@pytest.mark.parametrize("domain, expected", [
    ("mail.eu.acme.co.uk", "acme.co.uk"),
    ("ACME.com", "acme.com"),
    ("user.github.io", "user.github.io"),
    ("co.uk", None),
    ("", None),
    (None, None),
])
def test_registrable_domain(domain, expected):
    assert registrable_domain(domain) == expected


# ---- free-mail ------------------------------------------------------------------------------

@pytest.mark.parametrize("domain", [
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com",
    "msn.com", "yahoo.com", "yahoo.co.uk", "yahoo.co.jp", "aol.com", "icloud.com", "me.com",
    "mac.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de", "mail.ru",
    "yandex.ru", "qq.com", "163.com", "zoho.com", "fastmail.com",
])
def test_common_providers_are_freemail(domain):
    assert domain in FREEMAIL_DOMAINS
    assert is_freemail(domain)


@pytest.mark.parametrize("domain", ["acme.com", "corp.example", "mail.gmail.com", "google.com",
                                    "microsoft.com"])
def test_company_domains_are_not_freemail(domain):
    assert not is_freemail(domain)


def test_shipped_list_is_normalized_and_sane():
    assert 60 <= len(FREEMAIL_DOMAINS) <= 150
    for domain in FREEMAIL_DOMAINS:
        assert normalize_domain(domain) == domain, domain
        assert not is_public_suffix(domain), domain


def test_freemail_domains_default_is_the_shipped_list_sorted():
    got = freemail_domains(None)
    assert got == sorted(FREEMAIL_DOMAINS)


def test_freemail_override_replaces_and_normalizes():
    got = freemail_domains(("@GMail.com", "Bücher.example", "gmail.com", "corp-mail.example."))
    assert got == ["corp-mail.example", "gmail.com", "xn--bcher-kva.example"]
    assert freemail_domains(()) == []  # explicitly none


@pytest.mark.parametrize("bad", ["not a domain", "com", "", 42])
def test_freemail_override_rejects_bad_entries(bad):
    with pytest.raises(InputError) as exc:
        freemail_domains(("gmail.com", bad))
    assert "freemail_domains" in str(exc.value)
    assert repr(bad) in str(exc.value)


# ---- internal -------------------------------------------------------------------------------

@pytest.mark.parametrize("domain, internal, expected", [
    ("corp.example", ["corp.example"], True),
    ("eu.corp.example", ["corp.example"], True),
    ("a.b.corp.example", ["other.example", "corp.example"], True),
    ("CORP.example", ["corp.example"], True),
    ("corp.example.", ["corp.example"], True),
    ("notcorp.example", ["corp.example"], False),  # suffix, not a subdomain
    ("corp.example.com", ["corp.example"], False),
    ("example", ["corp.example"], False),
    ("corp.example", [], False),
    ("", ["corp.example"], False),
])
def test_is_internal(domain, internal, expected):
    assert is_internal(domain, internal) is expected
