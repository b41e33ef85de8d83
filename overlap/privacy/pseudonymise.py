"""The pseudonymised analyst snapshot: ``[publish] pseudonymise = [...]`` (docs/privacy.md).

The warehouse is unchanged; the snapshot and the marts made from it carry, instead of every
address of a chosen kind — ``customer_addresses`` (any address outside the internal domains)
and/or ``rep_addresses`` (inside them) — a keyed hash::

    HMAC-SHA256(key, normalized address)[:20 hex] @ customer.pseudonym.invalid

The same person hashes the same way in every table and every run (joins and trends still
work), a different key gives unrelated hashes, and without the key a hash cannot be checked
against a guessed address. Names go with the addresses: participants' display names of a
chosen kind, and — for ``rep_addresses`` — the reps' names (``name``, ``rep_name``,
``owner_name``), the score ``reasons`` that quote them and the approvals' free-text reasons. Any text column is rewritten, so an
address inside free text (a quarantine locator, a Message-ID that looks like an address) is
replaced too.

The key comes from the environment variable named by ``[publish] secret_env`` (default
``OVERLAP_PSEUDONYM_KEY``) or, in Airflow, the password of the connection
``overlap_pseudonym`` (the publish task passes it in). Without a key, publishing refuses:
a plaintext snapshot is never written by mistake.

How: the warehouse is copied into a staging file, rewritten there, and copied again into
the snapshot's temporary file — DuckDB keeps an updated row's old bytes in its blocks, so the
snapshot itself only ever receives rewritten rows.
"""

# Identifiers below are the catalog's own table and column names, quoted; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import hmac
import os

import duckdb

from overlap.config import Config
from overlap.errors import InputError

# An address inside any text (RE2, run by DuckDB): no spaces, brackets, quotes or separators.
ADDRESS = r"""[^\s@<>(),;:"'\[\]]+@[^\s@<>(),;:"'\[\]]+"""
SUFFIX = ".pseudonym.invalid"
# (approval_reason: a manager's free text, which names people: "on the deal with David's
# blessing")
_REP_NAME_COLUMNS = ("name", "rep_name", "owner_name", "reasons", "approval_reason")
# Unkeyed hashes of an address the snapshot otherwise hides: raw_copies.copy_hash is md5 of
# (source, mailbox, kind, copy_id), which with the copy's other columns would let a reader
# check a guessed mailbox. A lookup key of the load only: emptied in the snapshot.
_UNKEYED_HASHES = {"raw_copies": ("copy_hash",)}


def secret(config: Config, given: str | None = None) -> bytes | None:
    """The HMAC key when pseudonymising (``given``, e.g. from an Airflow connection, else the
    environment), None when not; InputError when it is needed and missing (never its value)."""
    if not config.privacy.pseudonymise:
        return None
    value = given or os.environ.get(config.privacy.secret_env)
    if not value:
        raise InputError(f"[publish] pseudonymise needs a key: set {config.privacy.secret_env}"
                         " (or the Airflow connection overlap_pseudonym's password)",
                         field="pseudonymise")
    return value.encode("utf-8")


def pseudonym(key: bytes, address: str, internal: bool) -> str:
    """The keyed hash of one address (normalized: lower-case)."""
    digest = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{digest[:20]}@{'rep' if internal else 'customer'}{SUFFIX}"


def _is_internal(address: str, domains: tuple[str, ...]) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


def chosen(address: str, kinds: tuple[str, ...], internal_domains: tuple[str, ...]) -> bool:
    """Whether ``address`` is of a kind to pseudonymise (internal domain: a rep's)."""
    internal = _is_internal(address, internal_domains)
    return ("rep_addresses" if internal else "customer_addresses") in kinds


def apply(con: duckdb.DuckDBPyConnection, catalog: str, config: Config, key: bytes) -> None:
    """Rewrite every text column of every table of the attached database ``catalog``: the
    distinct addresses found in it are hashed here, in Python, and handed to SQL as a MAP
    (a variable); a macro splits each text at the addresses and joins it back with them
    replaced. Plain SQL over the whole table, no per-row Python."""
    kinds = config.privacy.pseudonymise
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in con.execute(
            "select table_name, column_name, data_type from duckdb_columns()"
            " where database_name = ? and schema_name = 'main' and not internal"
            " and table_name not in (select view_name from duckdb_views()"
            "  where database_name = ?) order by table_name, column_index",
            [catalog, catalog]).fetchall():
        columns.setdefault(table, []).append((column, dtype))
    found: set[str] = set()
    pattern = ADDRESS.replace("'", "''")
    for table, cols in columns.items():
        for column, dtype in cols:
            text = _as_text(f'"{column}"', dtype)
            if text is None:
                continue
            found.update(a for (a,) in con.execute(
                f"select distinct lower(unnest(regexp_extract_all({text}, '{pattern}')))"
                f' from "{catalog}".main."{table}"').fetchall())
    mapping = {a: pseudonym(key, a, _is_internal(a, config.internal_domains))
               for a in sorted(found) if not a.endswith(SUFFIX)
               and chosen(a, kinds, config.internal_domains)}
    con.execute("set variable pseudo_map = map(?::varchar[], ?::varchar[])",
                [list(mapping), list(mapping.values())])
    split = f"regexp_split_to_array(t, '{pattern}')"
    extract = f"regexp_extract_all(t, '{pattern}')"
    con.execute(
        "create or replace temp macro _pseudo(t) as (case when t is null or not contains(t, '@')"
        f" then t else array_to_string(list_transform(range(1, len({split}) + 1), lambda i:"
        f" {split}[i] || coalesce(map_extract_value(getvariable('pseudo_map'),"
        f" lower({extract}[i])), {extract}[i], '')), '') end)")
    for table, cols in columns.items():
        sets = [s for c, t in cols if (s := _set(c, t, "rep_addresses" in kinds))]
        sets += [f'"{c}" = null' for c in _UNKEYED_HASHES.get(table, ())
                 if c in dict(cols)]
        if table == "crm_approvals" and "rep_addresses" in kinds:  # reason: not null
            sets = [s for s in sets if not s.startswith('"reason"')] + ['"reason" = \'\'']
        if sets:
            con.execute(f'update "{catalog}".main."{table}" set {", ".join(sets)}')


def _as_text(q: str, dtype: str) -> str | None:
    """A text column (or the addresses of a list / participants column) as one string."""
    if dtype == "VARCHAR":
        return q
    if dtype == "VARCHAR[]":
        return f"array_to_string({q}, ' ')"
    if dtype.startswith("STRUCT(address VARCHAR"):
        return f"array_to_string(list_transform({q}, lambda p: p.address), ' ')"
    return None


def _set(column: str, dtype: str, drop_names: bool) -> str | None:
    q = f'"{column}"'
    if drop_names and column in _REP_NAME_COLUMNS:
        return f"{q} = null"
    if dtype == "VARCHAR":
        return f"{q} = _pseudo({q})"
    if dtype == "VARCHAR[]":
        return f"{q} = list_transform({q}, lambda x: _pseudo(x))"
    if dtype.startswith("STRUCT(address VARCHAR"):
        # participants: the address hashed, the display name dropped with it
        return (f"{q} = list_transform({q}, lambda p: struct_pack(address := _pseudo(p.address),"
                " name := case when map_contains(getvariable('pseudo_map'), lower(p.address))"
                " then null else p.name end, role := p.role, response := p.response,"
                " is_resource := p.is_resource))")
    return None
