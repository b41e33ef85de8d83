"""Domain rules: the Public Suffix List, the free-mail list, internal domains (DESIGN rules 1-2).

The PSL comes from the ``publicsuffixlist`` package, which ships the list (no network access).
Both sections are honoured — ICANN and private (``github.io``, ``blogspot.com``) — because the
official test vectors expect it and a private suffix is just as useless as an account domain.
Unlisted TLDs follow the PSL's implicit ``*`` rule: ``example`` is a public suffix and
``example.example`` is registrable.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from publicsuffixlist import PublicSuffixList

from overlap.errors import InputError

FREEMAIL_RESOURCE = "freemail_domains.txt"


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # Parsing the list takes ~50 ms; do it once, on first use rather than at import.
    return PublicSuffixList(accept_unknown=True, only_icann=False)


def _prepare(domain: str) -> str | None:
    """Lower-case and drop one trailing dot (the root); None for an empty or dotted-edge name."""
    d = domain.strip().lower()
    if d.endswith("."):
        d = d[:-1]
    if not d or d.startswith(".") or ".." in d:
        return None
    return d


def is_public_suffix(domain: str, *, listed_only: bool = False) -> bool:
    """True when ``domain`` is itself a public suffix: ``com``, ``co.uk``, ``github.io``, ``example``.

    Accepts Unicode or punycode (``公司.cn`` and ``xn--55qx5d.cn`` alike). An unlisted TLD
    (``example``) counts by the implicit ``*`` rule unless ``listed_only``.
    """
    d = _prepare(domain)
    return d is not None and _psl().is_public(d, accept_unknown=not listed_only)


def registrable_domain(domain: str | None) -> str | None:
    """The registrable domain (public suffix + one label), or None when there is none.

    Semantics of the official PSL test vectors: lower-cased; ``None``, a leading dot or a bare
    public suffix give None; the result keeps the input's form (Unicode in, Unicode out).
    """
    if domain is None:
        return None
    d = domain.strip().lower()
    if not d or d.startswith("."):
        return None
    return _psl().privatesuffix(d)


def _read_freemail() -> frozenset[str]:
    text = resources.files("overlap").joinpath("data", FREEMAIL_RESOURCE).read_text("utf-8")
    names = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip().lower()
        if entry:
            names.add(entry)
    return frozenset(names)


#: The shipped free-mail list (``overlap/data/freemail_domains.txt``), normalized.
FREEMAIL_DOMAINS: frozenset[str] = _read_freemail()


def freemail_domains(override: Iterable[str] | None = None) -> list[str]:
    """The free-mail domains in effect, sorted: the shipped list, or ``[rules] freemail_domains``.

    An override *replaces* the shipped list (write the shipped entries you want to keep).
    Entries are normalized (lower-case, punycode, leading ``@`` allowed); a bad one raises
    InputError naming the entry (the caller adds the config file).
    """
    if override is None:
        return sorted(FREEMAIL_DOMAINS)
    from connectors.addresses import normalize_domain

    out: set[str] = set()
    for raw in override:
        nd = normalize_domain(raw) if isinstance(raw, str) else None
        if nd is None:
            raise InputError(f"[rules] freemail_domains: invalid domain {raw!r}",
                             field="freemail_domains")
        out.add(nd)
    return sorted(out)


def is_freemail(domain: str, freemail: Iterable[str] | None = None) -> bool:
    """True when ``domain`` (normalized) is on the free-mail list (exact match, no subdomains)."""
    names = FREEMAIL_DOMAINS if freemail is None else frozenset(freemail)
    return domain.lower() in names


def is_internal(domain: str, internal_domains: Iterable[str]) -> bool:
    """Rule 1: ``domain`` equals one of ``internal_domains`` or is a subdomain of one."""
    d = domain.strip().strip(".").lower()
    if not d:
        return False
    for raw in internal_domains:
        i = raw.strip().strip(".").lower()
        if i and (d == i or d.endswith("." + i)):
            return True
    return False
