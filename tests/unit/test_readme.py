"""The README is the newcomer's contract: its commands and examples must stay true."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from overlap.config import load_config

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_first_two_commands_are_demo_and_test_and_ci_runs_the_test_command() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert [line.strip() for line in ci.splitlines() if line.strip().startswith("make")] == [
        "make test"]


def test_every_toml_example_parses_and_the_config_example_loads(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        tomllib.loads(block)
    config = tmp_path / "overlap.toml"
    config.write_text(blocks[0], encoding="utf-8")
    loaded = load_config(config)
    assert loaded.rules.dormant_days == 60 and loaded.title == "Acme Sales"
    api = tmp_path / "api.toml"
    api.write_text(blocks[0].split("[[sources]]")[0] + blocks[1], encoding="utf-8")
    assert {s.kind for s in load_config(api).sources} == {"gmail", "google_calendar",
                                                          "msgraph"}
