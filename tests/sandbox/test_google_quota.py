"""The Google sandbox's quotas: per user, and optionally app-wide (Gmail's per-project limit,
all users together), each on a sliding window, answered as Google answers them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connectors.google_auth import (
    CALENDAR_SCOPE,
    GMAIL_SCOPE,
    build_service,
    delegated_credentials,
    error_reason,
)
from sandbox import google
from sandbox.google_seed import calendar_seed, event_ics, mail_seed

START = datetime(2026, 11, 2, tzinfo=UTC)
A, B = "a@corp.example", "b@corp.example"


def _users(sb: google.GoogleSandbox, mailbox: str) -> Any:
    info = json.loads(sb.key_file.read_text(encoding="utf-8"))
    return build_service("gmail", "v1", delegated_credentials(info, mailbox, GMAIL_SCOPE),
                         sb.url, 10).users()


@pytest.mark.parametrize("status", [429, 403])
def test_the_app_wide_quota_counts_all_users_together(tmp_path: Path, status: int) -> None:
    seeds = {m: calendar_seed(mail_seed(m, 3, START, START + timedelta(days=1)), "e.ics",
                              event_ics("e@x", m, [(m, "ACCEPTED")], START))
             for m in (A, B)}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=100,
                      project_quota_units_per_minute=12, quota_status=status) as sb:
        a, b = _users(sb, A), _users(sb, B)
        for _ in range(7):
            a.getProfile(userId="me").execute()  # 7 units of the project's 12
        b.messages().list(userId="me").execute()  # 5 more: 12, the limit
        with pytest.raises(HttpError) as refused:
            b.getProfile(userId="me").execute()  # B's own quota is far from used up
        assert refused.value.resp.status == status
        assert error_reason(refused.value) == "rateLimitExceeded"
        assert sb.project_quota_rejections == 1 and sb.quota_rejections == 1
        # Calendar has quotas of its own: not counted against Gmail's project quota.
        info = json.loads(sb.key_file.read_text(encoding="utf-8"))
        cal = build_service("calendar", "v3", delegated_credentials(info, A, CALENDAR_SCOPE),
                            sb.url, 10)
        cal.events().list(calendarId="primary", singleEvents=True).execute()


def test_the_app_wide_window_slides(tmp_path: Path) -> None:
    seeds = {m: mail_seed(m, 1, START, START + timedelta(days=1)) for m in (A, B)}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=None,
                      project_quota_units_per_minute=2, quota_window_seconds=0.3) as sb:
        a, b = _users(sb, A), _users(sb, B)
        a.getProfile(userId="me").execute()
        b.getProfile(userId="me").execute()
        with pytest.raises(HttpError):
            a.getProfile(userId="me").execute()
        time.sleep(0.35)
        a.getProfile(userId="me").execute()
        assert sb.project_quota_rejections == 1


def test_the_app_wide_quota_is_off_unless_asked_for(tmp_path: Path) -> None:
    seeds = {m: mail_seed(m, 1, START, START + timedelta(days=1)) for m in (A, B)}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=3) as sb:
        for m in (A, B):
            users = _users(sb, m)
            for _ in range(3):
                users.getProfile(userId="me").execute()
        assert sb.quota_rejections == 0
