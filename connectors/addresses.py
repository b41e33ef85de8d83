"""Address and domain normalization (rule "addresses are compared normalized").

Normalized = trimmed, lower-cased (local part too), IDN domain in punycode. These functions
never raise on bad input: they return None, and callers count or quarantine.
"""

from __future__ import annotations

import re
import unicodedata

import idna

# A domain label after IDNA: letters, digits, hyphens (underscores appear in real mail systems).
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# Characters that can never be in an unquoted local part we would accept.
_BAD_LOCAL = re.compile(r"[\s<>()\[\]\\,;:@\"\x00-\x1f\x7f]")
# A quoted local part: quoted pairs or any text but a bare quote, backslash or control char.
_QUOTED = re.compile(r'"(?:\\[^\x00-\x08\x0a-\x1f\x7f]|[^"\\\x00-\x08\x0a-\x1f\x7f])*"')
# A dot-atom (RFC 5322 atext, plus any non-ASCII letter per RFC 6532).
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+)*")
# Unicode categories never accepted in a local part: controls, format characters (bidi
# overrides, zero-width), surrogates, private use, unassigned, line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalize_domain(raw: str) -> str | None:
    """``"Bücher.Example."`` → ``"xn--bcher-kva.example"``; None when it is not a domain."""
    d = raw.strip().strip(".").lower()
    if d.startswith("@"):
        d = d[1:]
    if not d or len(d) > 253 or ".." in d:
        return None
    if not d.isascii():
        try:
            d = idna.encode(d, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    labels = d.split(".")
    if len(labels) < 2:
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if "xn--" in d:
        # An A-label must decode: "xn--0" is not a domain anyone can register.
        for label in labels:
            if label.startswith("xn--"):
                try:
                    idna.decode(label)
                except (idna.IDNAError, UnicodeError):
                    return None
    return d


def normalize_address(raw: str) -> str | None:
    """``" <John.Doe@Example.COM> "`` → ``"john.doe@example.com"``; None when not an address.

    Quoted local parts are kept verbatim (lower-cased), except that needless quotes around a
    plain dot-atom are dropped; non-ASCII local parts are NFC-normalized, and control,
    format and separator characters refuse the address. Local parts with leading or doubled
    dots — invalid by RFC 5322 but present in real mail (Enron) — are accepted as written:
    they name a real mailbox and matching is by domain.
    """
    a = raw.strip()
    if a.startswith("<") and a.endswith(">"):
        a = a[1:-1].strip()
    if a.lower().startswith("mailto:"):
        a = a[7:]
    at = a.rfind("@")
    if at <= 0 or at == len(a) - 1:
        return None
    local, domain = a[:at], a[at + 1 :]
    written = local
    if not local.isascii():
        local = unicodedata.normalize("NFC", local)
        if unicodedata.category(local[0]).startswith("M"):
            return None  # starts with a combining mark: it would combine with what precedes
        if any(unicodedata.category(c) in _UNSAFE_CATEGORIES for c in local):
            return None
        if any(unicodedata.category(c) == "Zs" and c != " " for c in local):
            return None
    if local.startswith('"'):
        if not _QUOTED.fullmatch(local):
            return None
        inner = re.sub(r"\\(.)", r"\1", local[1:-1])
        if _DOT_ATOM.fullmatch(inner):
            local = inner  # needless quotes: "john.doe"@x is john.doe@x
        else:
            # One spelling per mailbox: a quoted pair is needed only for " and \ ("fred\ x"
            # is "fred x", as the header parser reads it).
            local = '"' + inner.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif _BAD_LOCAL.search(local) or _BAD_LOCAL.search(written):
        return None  # also before NFC: "<" + U+0338 composes to "≮", a "<" all the same
    if len(local) > 64:
        return None
    if domain.lstrip().startswith("."):
        return None  # "a@.example.com": a trailing root dot is fine, a leading one is not
    nd = normalize_domain(domain)
    if nd is None:
        return None
    return f"{local.lower()}@{nd}"


def domain_of(address: str) -> str:
    """Domain part of a normalized address."""
    return address.rsplit("@", 1)[1]
