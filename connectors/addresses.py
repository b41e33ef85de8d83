"""Address and domain normalization (rule "addresses are compared normalized").

Normalized = trimmed, lower-cased (local part too), IDN domain in punycode. These functions
never raise on bad input: they return None, and callers count or quarantine.
"""

from __future__ import annotations

import re

import idna

# A domain label after IDNA: letters, digits, hyphens (underscores appear in real mail systems).
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# Characters that can never be in an unquoted local part we would accept.
_BAD_LOCAL = re.compile(r"[\s<>()\[\]\\,;:@\"\x00-\x1f\x7f]")


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
    if not all(_LABEL.match(label) for label in labels):
        return None
    return d


def normalize_address(raw: str) -> str | None:
    """``" <John.Doe@Example.COM> "`` → ``"john.doe@example.com"``; None when not an address.

    Quoted local parts are kept verbatim (lower-cased). Local parts with leading or doubled
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
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        if any(c in local[1:-1] for c in "\r\n\x00"):
            return None
    elif _BAD_LOCAL.search(local):
        return None
    if len(local) > 64:
        return None
    nd = normalize_domain(domain)
    if nd is None:
        return None
    return f"{local.lower()}@{nd}"


def domain_of(address: str) -> str:
    """Domain part of a normalized address."""
    return address.rsplit("@", 1)[1]
