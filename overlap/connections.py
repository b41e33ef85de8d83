"""Credentials for API extracts from Airflow connections (no Airflow import).

The DAG's extract tasks hand :func:`credentials_for` a ``Connection.get`` wrapper; this module
turns the connection's fields into the ``credentials`` connectors/api.py expects. A kind's
default connection id is in the source registry (overlap/sources.py); a source may name its
own with ``airflow_conn_id = "..."``. Secrets are never logged or put in error messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from overlap.config import Config
from overlap.errors import InputError
from overlap.pipeline import ExtractTask
from overlap.sources import CRM_KINDS, KINDS


class ConnectionLike:
    """The fields of an Airflow Connection that credentials are built from."""

    conn_id: str
    host: str | None
    login: str | None
    password: str | None
    port: int | None
    extra_dejson: dict[str, Any]


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("{"):
        return json.loads(value)
    return value


def credentials_from_connection(kind: str, conn: ConnectionLike) -> dict[str, Any]:
    """The ``credentials`` connectors/api.py expects, built from an Airflow connection.

    gmail / google_calendar: the service-account key as a dict, from the connection's extra
    ``keyfile_dict`` (or the Google provider's ``extra__google_cloud_platform__keyfile_dict``),
    else the password holding the key JSON.  msgraph: ``login`` = client id, ``password`` =
    client secret, extra ``tenant_id`` (required), ``authority``, or ``certificate_pem`` +
    ``thumbprint`` instead of a secret."""
    extra = dict(conn.extra_dejson or {})
    api = KINDS[kind].api if kind in KINDS else None
    if api == "google":
        key = (extra.get("keyfile_dict")
               or extra.get("extra__google_cloud_platform__keyfile_dict")
               or conn.password)
        key = _maybe_json(key)
        if not isinstance(key, dict) or "private_key" not in key:
            raise InputError(f"connection {conn.conn_id!r}: put the service-account key JSON in"
                             " extra keyfile_dict (or the password)", field=conn.conn_id)
        return key
    if api == "microsoft":
        tenant = extra.get("tenant_id") or extra.get("tenantId")
        client = conn.login or extra.get("client_id")
        if not tenant or not client:
            raise InputError(f"connection {conn.conn_id!r}: needs login (client id) and extra"
                             " tenant_id", field=conn.conn_id)
        creds: dict[str, Any] = {"tenant_id": tenant, "client_id": client}
        if extra.get("certificate_pem"):
            creds["certificate_pem"] = extra["certificate_pem"]
            creds["thumbprint"] = extra.get("thumbprint")
        elif conn.password:
            creds["client_secret"] = conn.password
        else:
            raise InputError(f"connection {conn.conn_id!r}: needs a client secret (password) or"
                             " extra certificate_pem + thumbprint", field=conn.conn_id)
        authority = extra.get("authority") or conn.host
        if authority:
            creds["authority"] = authority
        return creds
    if kind in CRM_KINDS:
        return _crm_credentials(kind, conn, extra)
    raise InputError(f"source kind {kind!r} takes no credentials", field="kind")


def _crm_credentials(kind: str, conn: ConnectionLike, extra: dict[str, Any]) -> dict[str, Any]:
    """salesforce: ``login`` = the integration user, extra ``client_id`` (the connected app's
    consumer key), the private key PEM in extra ``private_key`` (or the password), ``host`` =
    the login URL (default login.salesforce.com). hubspot: the private app's token in the
    password (or extra ``token``), ``host`` = the API base URL (default api.hubapi.com)."""
    if kind == "salesforce":
        key = extra.get("private_key") or conn.password
        if not conn.login or not extra.get("client_id") or not key:
            raise InputError(f"connection {conn.conn_id!r}: needs login (the integration user),"
                             " extra client_id (consumer key) and the private key PEM (extra"
                             " private_key or the password)", field=conn.conn_id)
        creds = {"username": conn.login, "client_id": extra["client_id"], "private_key": key}
        if conn.host:
            creds["login_url"] = conn.host
        return creds
    token = extra.get("token") or conn.password
    if not token:
        raise InputError(f"connection {conn.conn_id!r}: put the private app's access token in"
                         " the password (or extra token)", field=conn.conn_id)
    return {"token": token, **({"base_url": conn.host} if conn.host else {})}


def crm_credentials(config: Config, get_connection: Callable[[str], ConnectionLike | None]
                    ) -> dict[str, Any] | None:
    """Credentials for an API CRM (None for CSV files): from the connection ``[crm.<kind>]
    airflow_conn_id`` names (which must exist), else the kind's default connection
    (overlap_salesforce / overlap_hubspot) when it exists; else None, and the connector reads
    the options' ``*_file`` / ``*_env`` (the CLI and the sandbox)."""
    if config.crm_kind not in CRM_KINDS:
        return None
    explicit = config.crm_options.get("airflow_conn_id")
    conn_id = str(explicit or CRM_KINDS[config.crm_kind].conn_id)
    conn = get_connection(conn_id)
    if conn is None:
        if explicit:
            raise InputError(f"Airflow connection {conn_id!r} not found",
                             field=f"[crm.{config.crm_kind}] airflow_conn_id")
        return None
    return credentials_from_connection(config.crm_kind, conn)


def connection_id(task: ExtractTask) -> tuple[str | None, bool]:
    """(connection id, whether the source named it explicitly) for an extract task."""
    explicit = task.options.get("airflow_conn_id") or task.options.get("conn_id")
    if explicit:
        return str(explicit), True
    return KINDS[task.kind].conn_id, False


def credentials_for(task: ExtractTask, get_connection: Callable[[str], ConnectionLike | None]
                    ) -> Any:
    """Credentials for one extract (None for file sources).

    A connection the source names (``airflow_conn_id = "..."`` in its [[sources]] table) must exist.
    Without one, the kind's default connection (overlap_google / overlap_msgraph) is used when
    it exists; else None, and the connector resolves credentials from the source's options
    (how the sandbox and the CLI work)."""
    if KINDS[task.kind].is_file_kind:
        return None
    conn_id, explicit = connection_id(task)
    if conn_id is None:
        return None
    conn = get_connection(conn_id)
    if conn is None:
        if explicit:
            raise InputError(f"Airflow connection {conn_id!r} not found", field="airflow_conn_id")
        return None
    return credentials_from_connection(task.kind, conn)
