"""`overlap sandbox serve --apis google,salesforce | hubspot`: composes a CRM sandbox with the
mail sandboxes (or alone, keeping the file sources), writes a config that `overlap crm check`
and `overlap run` read, and stops cleanly on SIGTERM (issue 17)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overlap.config import load_config
from overlap.errors import InputError
from sandbox.generator import generate
from sandbox.serve import split_apis

CASES = {"google,salesforce": ("salesforce", {"gmail", "google_calendar"}),
         "hubspot": ("hubspot", {"maildir", "ics", "mbox"})}


def test_split_apis() -> None:
    assert split_apis("google") == ("google", None)
    assert split_apis("mixed, hubspot") == ("mixed", "hubspot")
    assert split_apis("salesforce") == (None, "salesforce")
    for bad in ("google,microsoft", "salesforce,hubspot", "zoho", ""):
        with pytest.raises(InputError):
            split_apis(bad)


@pytest.mark.parametrize("apis", list(CASES))
def test_serve_composes_a_crm_sandbox(tmp_path: Path, apis: str) -> None:
    org = generate(tmp_path / "org", weeks=3, accounts=4, emails_per_week=20,
                   meetings_per_week=4)
    target = tmp_path / "sandbox.toml"
    env = {k: v for k, v in os.environ.items() if k != "OVERLAP_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "overlap.cli", "sandbox", "serve",
                             "--config", str(org.config_path), "--apis", apis,
                             "--write-config", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    crm, kinds = CASES[apis]
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert target.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
        config = load_config(target)
        assert config.crm_kind == crm and config.accounts_csv is None
        assert {s.kind for s in config.sources} == kinds
        check = subprocess.run([sys.executable, "-m", "overlap.cli", "crm", "check",
                                "--config", str(target)], capture_output=True, text=True,
                               env=env, timeout=120)
        assert check.returncode == 0, check.stderr
        assert f"CRM ({crm}):" in check.stdout and "owner history:" in check.stdout
        assert not config.warehouse.exists()  # crm check writes nothing
        year, number, _ = org.weeks[-1].isocalendar()
        ran = subprocess.run([sys.executable, "-m", "overlap.cli", "run", "--config",
                              str(target), "--week", f"{year}-W{number:02d}", "-q"],
                             capture_output=True, text=True, env=env, timeout=300)
        assert ran.returncode == 0, ran.stderr
        assert "failed" not in ran.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"{crm} CRM" in out and "sandbox stopped" in err
