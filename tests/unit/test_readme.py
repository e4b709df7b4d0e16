"""The README's ready-made readiness checks are valid config, as printed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from config import parse_config
from tests.unit.test_config import GOOD

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ready_made_checks_in_the_readme_are_valid_config() -> None:
    text = README.read_text()
    section = text[text.index("### Ready-made checks"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    checks = yaml.safe_load(block.group(1))["readiness"]
    assert [c["name"] for c in checks] == ["raid", "smart", "disk", "backup-fresh",
                                           "replication"]
    service = GOOD["services"][0]  # type: ignore[index]
    members = [{**service["members"][0], "readiness": checks}, service["members"][1]]
    config = parse_config({**GOOD, "services": [{**service, "members": members,
                                                  "evacuate_on": ["raid", "smart"]}]}, {})
    raid = config.services[0].members[0].readiness[0]
    assert raid.kind == "exec" and "/proc/mdstat" in raid.argv[-1]  # type: ignore[union-attr]
