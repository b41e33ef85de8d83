"""The Google sandbox's offset pageTokens (Gmail history.list, Calendar events.list) over real
HTTP: pages of one join up to the whole list, and a token that does not decode answers 400 in
each API's own words."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connectors.google_auth import CALENDAR_SCOPE, GMAIL_SCOPE, build_service, delegated_credentials
from sandbox import google
from sandbox.google_seed import calendar_seed, event_ics, mail_seed

REP = "rep@corp.example"


def _pages(request: Callable[..., Any], key: str) -> list[str]:
    """The ids of ``key`` over every page, following nextPageToken."""
    ids: list[str] = []
    token = None
    while True:
        page = request(maxResults=1, pageToken=token).execute()
        ids += [row["id"] for row in page.get(key, [])]
        token = page.get("nextPageToken")
        if not token:
            return ids


def _bad_token(request: Callable[..., Any]) -> tuple[int, dict[str, str]]:
    with pytest.raises(HttpError) as err:
        request(pageToken="not-a-token").execute()
    return err.value.status_code, json.loads(err.value.content)["error"]["errors"][0]


def test_offset_pages_join_up_and_a_bad_token_is_a_400(tmp_path: Path) -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    seed = mail_seed(REP, 1, start, start + timedelta(days=7))
    calendar_seed(seed, "a.ics", event_ics("a@x", REP, [(REP, "ACCEPTED")],
                                           start + timedelta(hours=9), rrule="FREQ=DAILY;COUNT=3"))
    with google.start({REP: seed}, secrets_dir=tmp_path) as sb:
        info = json.loads(sb.key_file.read_text(encoding="utf-8"))
        users = build_service("gmail", "v1", delegated_credentials(info, REP, GMAIL_SCOPE),
                              sb.url, 10).users()
        before = users.getProfile(userId="me").execute()["historyId"]
        for n in range(3):
            sb.add_message(REP, f"From: b@acme.example\r\nTo: {REP}\r\nSubject: {n}\r\n\r\n"
                           .encode())

        def history(**kw: Any) -> Any:
            return users.history().list(userId="me", startHistoryId=before, **kw)

        whole = [h["id"] for h in history().execute()["history"]]
        assert len(whole) == 3 and _pages(history, "history") == whole
        assert _bad_token(history) == (400, {"message": "Invalid pageToken",
                                             "domain": "global", "reason": "invalidArgument"})

        events = build_service("calendar", "v3",
                               delegated_credentials(info, REP, CALENDAR_SCOPE),
                               sb.url, 10).events()

        def instances(**kw: Any) -> Any:
            return events.list(calendarId="primary", singleEvents=True, **kw)

        whole = [e["id"] for e in instances().execute()["items"]]
        assert len(whole) == 3 and _pages(instances, "items") == whole
        assert _bad_token(instances) == (400, {"message": "Invalid page token",
                                               "domain": "global", "reason": "invalid"})
