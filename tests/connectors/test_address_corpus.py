"""Address parsing against the public corpora in ../shared/data/addresses.

Every case goes through the header path (``parse_address_list``: parse, then normalize).
Valid cases must give the expected normalized address. Invalid cases must be refused — or,
where our normalization is deliberately lenient, give the *same* address as written (listed in
LENIENT with the reason); never a different one.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import idna
import pytest

from connectors.addresses import normalize_address
from connectors.headers import parse_address_list, parse_email
from connectors.records import EmailCopy, Quarantined

# ------------------------------------------------------------------ deliberate differences

# Valid by the corpus, refused by us.
REFUSED_VALID = {
    # Single-label domains (no dot): not routable between organisations and no account can
    # own them; normalize_domain requires two labels.
    "postbox@com", "admin@mailserver1", "bob@mi-nus", "bob@under_scope", "first.last@com",
    "test@example", "a@b", "a@bar",
    # (A "[" outside quotes is a parse failure for CPython 3.13's strict mode, CVE-2023-27043;
    # we refuse those too, but "[" inside a quoted local part is accepted as written.)
    # "!" is not a hostname character; flanker's lax domain check accepts it.
    'Bill Gates <"billy"@retired.Micr!osoft99.com>',
}  # fmt: skip

# Invalid by the corpus, accepted by us as the same mailbox: input → our normalized address.
LENIENT = {
    # Leading, trailing or doubled dots in the local part: invalid by RFC 5322 but sent by
    # real systems (Enron's Notes gateway); the text names one mailbox, kept as written.
    ".first.last@iana.org": ".first.last@iana.org",
    "first.last.@iana.org": "first.last.@iana.org",
    "first..last@iana.org": "first..last@iana.org",
    ".dot@iana.org": ".dot@iana.org",
    "dot.@iana.org": "dot.@iana.org",
    "two..dot@iana.org": "two..dot@iana.org",
    "test.@iana.org": "test.@iana.org",
    "test..test@iana.org": "test..test@iana.org",
    ".test@iana.org": ".test@iana.org",
    ".wooly@iana.org": ".wooly@iana.org",
    "wo..oly@iana.org": "wo..oly@iana.org",
    "pootietang.@iana.org": "pootietang.@iana.org",
    ".@iana.org": ".@iana.org",
    ".leadingdot@domain.com": ".leadingdot@domain.com",
    "twodots..here@domain.com": "twodots..here@domain.com",
    "trailingdot.@domain.email": "trailingdot.@domain.email",
    # A trailing dot is the DNS root: the same domain.
    "gatsby@f.sc.ot.t.f.i.tzg.era.l.d.": "gatsby@f.sc.ot.t.f.i.tzg.era.l.d",
    "a@bar.com.": "a@bar.com",
    "my@trailingdot.com.": "my@trailingdot.com",
    "test@iana.org.": "test@iana.org",
    # Whitespace, CR/LF and comments around an address are folding/CFWS in a header value.
    "my@example.com\n": "my@example.com",
    "\nmy@example.com": "my@example.com",
    "test@iana.org\n": "test@iana.org",
    "\ntest@iana.org": "test@iana.org",
    "test@iana.org\r": "test@iana.org",
    "\rtest@iana.org": "test@iana.org",
    "\r\ntest@iana.org": "test@iana.org",
    "\r\n \r\ntest@iana.org": "test@iana.org",
    " \r\ntest@iana.org": "test@iana.org",
    " \r\n \r\ntest@iana.org": "test@iana.org",
    " \r\n\r\ntest@iana.org": "test@iana.org",
    " \r\n\r\n test@iana.org": "test@iana.org",
    "test@iana.org\r\n": "test@iana.org",
    "test@iana.org\r\n \r\n": "test@iana.org",
    "test@iana.org \r\n": "test@iana.org",
    "test@iana.org \r\n \r\n": "test@iana.org",
    "test@iana.org \r\n\r\n": "test@iana.org",
    "test@iana.org \r\n\r\n ": "test@iana.org",
    "(\n)test@iana.org": "test@iana.org",
    # Angle brackets and display names are ordinary in headers (email_validator refuses them
    # unless asked); an unclosed "<" still names one address.
    "<me@example.com>": "me@example.com",
    "<me@example.com": "me@example.com",
    "DisplayName <me@example.com>": "me@example.com",
    "Display Name <me@example.com>": "me@example.com",
    '"Display Name" <me@example.com>': "me@example.com",
    "Display.Name <me@example.com>": "me@example.com",
    '"Display.Name" <me@example.com>': "me@example.com",
    # Length limits are SMTP's business; a long address still names one mailbox.
    "meme@" + "1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000." * 2 + "1111111111222222222233333333334444444444555555555.com": None,
    # Syntactically fine domains that email_validator refuses by policy (reserved TLDs,
    # hyphenated or numeric-looking labels): they simply match no account.
    "me@anything.arpa": "me@anything.arpa",
    "me@valid.invalid": "me@valid.invalid",
    "me@link.local": "me@link.local",
    "me@host.localhost": "me@host.localhost",
    "me@onion.onion.onion": "me@onion.onion.onion",
    "me@test.test.test": "me@test.test.test",
    "me@bad.tld-2": "me@bad.tld-2",
    "me@yy--0.tld": "me@yy--0.tld",
    # Internationalized local parts are accepted (RFC 6532); "SMTPUTF8 off" is not our mode.
    '"quoted.with..unicode.λ"@example.com': '"quoted.with..unicode.λ"@example.com',
    # A quoted pair means the character itself, and needless quotes are dropped.
    '"test\\©"@iana.org': "test©@iana.org",
}  # fmt: skip
# The long-domain entries are computed below (too long to write out).

A = "addresses"


def _addresses(value: str) -> list[str]:
    found, _ = parse_address_list(value, "to")
    return [p.address for p in found]


def _plain(addr: str) -> str:
    """Expected normalization of a plain addr-spec: lower-case (NFC), IDN domain in punycode."""
    local, _, domain = addr.rpartition("@")
    return f"{unicodedata.normalize('NFC', local).lower()}@{idna.encode(domain, uts46=True).decode('ascii').lower()}"


def _lenient_ok(value: str, got: list[str]) -> bool:
    if not got:
        return True
    if value in LENIENT and LENIENT[value] is not None:
        return got == [LENIENT[value]]
    # Long but well-formed addresses (length limits only): accepted as written.
    try:
        plain = _plain(value.strip())
    except idna.IDNAError:
        return False
    return len(got) == 1 and got[0] == plain and len(value) > 64


# ------------------------------------------------------------------ flanker

def _lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        # Trailing "# comment" annotations in the invalid list are not part of the address.
        out.append(line.split("  #", 1)[0].rstrip() if "  #" in line else line)
    return out


# Valid flanker cases whose normalization is not the plain lower-casing of the input.
FLANKER_EXPECTED = {
    # quoted pairs are unescaped; needless quotes dropped
    '"\\e\\s\\c\\a\\p\\e\\d"@sld.com': "escaped@sld.com",
    '"back\\slash"@sld.com': "backslash@sld.com",
    '"first\\last"@iana.org': "firstlast@iana.org",
    '"Joe.\\Blow"@iana.org': "joe.blow@iana.org",
    '"test\\test"@iana.org': "testtest@iana.org",
    '"test\\blah"@iana.org': "testblah@iana.org",
    '"Joe\\Blow"@iana.org': "joeblow@iana.org",
    '"Fred\\ Bloggs"@example.com': '"fred bloggs"@example.com',
    '"Fred\\ Bloggs"@iana.org': '"fred bloggs"@iana.org',
    '"Fred\\@Bloggs"@example.com': '"fred@bloggs"@example.com',
    '"Abc\\@def"@iana.org': '"abc@def"@iana.org',
    '"quoted"@sld.com': "quoted@sld.com",
    '"test.test"@iana.org': "test.test@iana.org",
    '"Ima.Fool"@iana.org': "ima.fool@iana.org",
    '"first.middle.last"@iana.org': "first.middle.last@iana.org",
    # display names and comments are not part of the address
    "Steve Jobs <steve@apple.com>": "steve@apple.com",
    'Matt "The Matt" Mickiewicz <matt.Mickiewicz@99designs.com>': "matt.mickiewicz@99designs.com",
    '"<john@smith.com>" <john@smith.com>': "john@smith.com",
    "(this is a comment) test@example.com": "test@example.com",
    "(this is a comment)test@example.com": "test@example.com",
    "test@example.com(this is a comment)": "test@example.com",
    "test@example.com (this is a comment)": "test@example.com",
}


def test_flanker_valid(shared_data: Path) -> None:
    cases = _lines(shared_data / A / "flanker" / "mailbox_valid.txt")
    assert len(cases) > 150
    for value in cases:
        got = _addresses(value)
        if value in REFUSED_VALID:
            assert got == [], value
            continue
        expected = FLANKER_EXPECTED.get(value) or _plain(value)
        assert got == [expected], value


def test_flanker_invalid(shared_data: Path) -> None:
    cases = _lines(shared_data / A / "flanker" / "mailbox_invalid.txt")
    assert len(cases) > 80
    for value in cases:
        if value == "first.last@sub.do,com":
            # In a header the comma separates two entries: "first.last@sub.do" (a valid
            # address in the .do TLD) and "com" (dropped). That is the header's meaning.
            assert _addresses(value) == ["first.last@sub.do"]
            continue
        got = _addresses(value)
        assert _lenient_ok(value, got), (value, got)


# ------------------------------------------------------------------ email_validator

def _ev_groups(shared_data: Path) -> dict[str, list[dict[str, object]]]:
    data = json.loads((shared_data / A / "email_validator" / "test_syntax_cases.json").read_text())
    return {g["test"]: g["cases"] for g in data["groups"]}


def test_email_validator_valid(shared_data: Path) -> None:
    groups = _ev_groups(shared_data)
    n = 0
    for group in ("test_email_valid", "test_email_valid_intl_local_part"):
        for case in groups[group]:
            out = case["output"]
            assert isinstance(out, dict)
            local = str(out["normalized"]).rpartition("@")[0]
            expected = f"{local.lower()}@{out['ascii_domain']}"
            assert _addresses(str(case["email_input"])) == [expected], case["email_input"]
            n += 1
    for case in groups["test_email_valid_only_if_quoted_local_part"]:
        expected = f"{str(case['normalized_local_part']).lower()}@example.com"
        assert _addresses(str(case["email_input"])) == [expected], case["email_input"]
        n += 1
    assert n > 30


def test_email_validator_invalid(shared_data: Path) -> None:
    groups = _ev_groups(shared_data)
    n = 0
    for group in (
        "test_email_invalid_syntax",
        "test_email_invalid_syntax_strict",
        "test_email_invalid_reserved_domain",
        "test_email_invalid_character_smtputf8_off",
    ):
        for case in groups[group]:
            value = str(case["email_input"])
            got = _addresses(value)
            assert _lenient_ok(value, got), (group, value, got)
            n += 1
    # Unsafe characters in a local part refuse the address. A combining mark is unsafe only
    # where it has nothing to combine with (at the start): "a\u0300b" is just "àb".
    for case in groups["test_email_unsafe_character"]:
        s = str(case["s"])
        if unicodedata.category(s[0]).startswith("M"):
            assert _addresses(f"{s}ab@example.com") == [], repr(s)
        else:
            assert _addresses(f"a{s}b@example.com") == [], repr(s)
        n += 1
    assert n > 90


def test_pyisemail(shared_data: Path) -> None:
    cases = _ev_groups(shared_data)["test_pyisemail_tests"]
    assert len(cases) > 100
    for case in cases:
        value, status = str(case["email_input"]), str(case["status"])
        got = _addresses(value)
        if status == "ISEMAIL_VALID":
            assert got == [_plain(value)], value
        elif status.startswith("ISEMAIL_ERR"):
            assert _lenient_ok(value, got), (value, status, got)
        else:
            # RFC-valid but deprecated or unusual (obsolete syntax, domain literals, quoted
            # strings, comments): either refused or read as exactly one address.
            assert len(got) <= 1, (value, got)


# ------------------------------------------------------------------ CPython

def test_cpython_getaddresses(shared_data: Path) -> None:
    data = json.loads((shared_data / A / "cpython" / "getaddresses_cases.json").read_text())
    for case in data["test_getaddresses_nasty"]:
        got = [a for value in case["input"] for a in _addresses(value)]
        expected = [_plain(addr) for _, addr in case["expected"] if addr]
        assert got == expected, case["input"]
    for case in data["test_parsing_errors_separators"]:
        # CPython 3.13 strict mode refuses these; reading them non-strictly gives a
        # *different* mailbox (the CVE-2023-27043 problem), so we must refuse too.
        assert case["getaddresses_strict"] == [["", ""]]
        assert _addresses(case["input"]) == [], case["input"]


def test_cpython_parseaddr(shared_data: Path) -> None:
    data = json.loads((shared_data / A / "cpython" / "email_utils_parseaddr_getaddresses_cases.json").read_text())
    n = 0
    for case in data:
        if not (case["args_literal"] and case["expected_literal"]) or case["kwargs"]:
            continue
        if case["fn"] == "utils.parseaddr":
            got = _addresses(case["args"][0])
            addr = case["expected"][1]
            assert got == ([_plain(addr)] if addr else []), case["args"]
            n += 1
        elif case["fn"] == "utils.getaddresses":
            got = [a for value in case["args"][0] for a in _addresses(value)]
            assert got == [_plain(addr) for _, addr in case["expected"] if addr], case["args"]
            n += 1
    assert n >= 5


def test_cpython_headerregistry(shared_data: Path) -> None:
    data = json.loads((shared_data / A / "cpython" / "headerregistry_example_params.json").read_text())
    # Cases where CPython's newer parser repairs broken syntax into a quoted local part we do
    # not reconstruct; compat32 refuses or reads them differently. Refusal is acceptable.
    repaired = {
        "quoted_strings_in_local_part",
        "escaped_escapes_in_local_part",
        "spaces_in_unquoted_local_part_collapsed",
        # obsolete spaces around dots: compat32 glues "merwok. wok" into a local part that is
        # not in the header; split_addresses refuses such glued readings (see first(middle)last).
        "spaces_around_dots_in_local_part_removed",
    }
    for name, (source, _defects, _decoded, _display, addr_spec, *_rest) in data["TestAddressHeader"].items():
        got = _addresses(source)
        if name in repaired:
            assert len(got) <= 1 and (not got or got[0].endswith("@example.com")), (name, got)
            continue
        expected = []
        if addr_spec and addr_spec != "<>":
            local, _, domain = addr_spec.rpartition("@")
            if local.startswith('"') and " " not in local and '\\"' not in local:
                local = local[1:-1]  # needless quotes are dropped by normalization
            expected = [f"{local.lower()}@{domain.lower()}"]
        assert got == expected, (name, source, got)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("=?utf-8?q?=C3=89ric?= <foo@example.com>", "Éric"),
        ("The =?utf-8?q?=C3=89ric=2C?= Himself <foo@example.com>", "The Éric, Himself"),
        ('"A \\(Special\\) Person" <person@dom.ain>', "A (Special) Person"),
    ],
)
def test_display_names(value: str, name: str) -> None:
    found, _ = parse_address_list(value, "from")
    assert [p.name for p in found] == [name]


# ------------------------------------------------------------------ every entry point

def _all_corpus_inputs(shared_data: Path) -> list[str]:
    out = _lines(shared_data / A / "flanker" / "mailbox_valid.txt")
    out += _lines(shared_data / A / "flanker" / "mailbox_invalid.txt")
    for cases in _ev_groups(shared_data).values():
        out += [str(c["email_input"]) for c in cases if isinstance(c, dict) and "email_input" in c]
    return out


def test_direct_normalization_never_reads_a_different_address(shared_data: Path) -> None:
    """The CRM, calendar (.ics ATTENDEE, Google Calendar) and Graph paths call
    normalize_address on one addr-spec directly, without the header parser. On every corpus
    input it must refuse, or give the address the header path gives — never another one."""
    inputs = _all_corpus_inputs(shared_data)
    assert len(inputs) > 500
    accepted = 0
    for value in inputs:
        direct = normalize_address(value)
        if direct is None:
            continue
        accepted += 1
        assert normalize_address(direct) == direct, value  # normalized means stable
        assert _addresses(value) == [direct] or _addresses(f"<{value.strip()}>") == [direct], (
            value, direct)
    assert accepted > 200


def test_cpython_sample_messages_parse(shared_data: Path) -> None:
    """CPython's sample messages (odd encodings, MIME, multiple addresses): never a crash,
    and every address read is one written in the headers."""
    files = sorted((shared_data / A / "cpython" / "data").glob("msg_*.txt"))
    assert len(files) > 40
    copies = 0
    for path in files:
        raw = path.read_bytes()
        rec = parse_email(raw, source="eml", source_kind="eml", mailbox="m@example.com",
                          copy_id=path.name)
        assert isinstance(rec, EmailCopy | Quarantined), path
        if isinstance(rec, EmailCopy):
            copies += 1
            head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace").lower()
            for p in rec.participants:
                assert p.address.rpartition("@")[2] in head, (path.name, p.address)
    assert copies > 10  # most samples have no Date or no addresses: quarantined
