"""The README's ready-made readiness checks are valid config, as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_the_configuration_example_passes_check_config_as_printed(tmp_path: Path) -> None:
    """The README's big example, copied out as a user would, with the secret files it
    names (their directory moved into a temporary one: paths are addresses too), checked by
    the real CLI in an environment without HOSTNAME, as under cron or systemd."""
    text = README.read_text()
    section = text[text.index("## Configuration"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    example = block.group(1).replace("/run/secrets/", f"{secrets}/")
    for name in set(re.findall(re.escape(str(secrets)) + r"/([\w.-]+)", example)):
        (secrets / name).write_text(f"{name}-value-of-some-length\n")
    path = tmp_path / "failover.yaml"
    path.write_text(example)
    env = {k: v for k, v in os.environ.items()
           if k != "HOSTNAME" and not k.startswith("FAILOVER_")}
    done = subprocess.run([sys.executable, "-m", "controller.cli", "check-config", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
