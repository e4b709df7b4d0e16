"""The README's and the docs' snippets work as printed: config examples pass check-config,
every `failoverctl` command parses, every `make` target and bench flag exists."""

from __future__ import annotations

import ast
import configparser
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from config import load_config, parse_config
from controller.cli.arguments import build
from tests.unit.test_config import GOOD

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
SCHEMA = DOCS / "config.schema.json"


def code_blocks(path: Path, language: str | None = None) -> list[str]:
    """The fenced blocks of a page (of one language if given), continuation lines joined."""
    found = re.findall(r"```(\w*)\n(.*?)```", path.read_text(), re.DOTALL)
    return [body.replace("\\\n", " ") for lang, body in found
            if language is None or lang == language]


def first_yaml(path: Path, after: str = "") -> str:
    text = path.read_text()
    block = re.search(r"```yaml\n(.*?)```", text[text.index(after):], re.DOTALL)
    assert block is not None, f"no yaml block in {path.name} after {after!r}"
    return block.group(1)


def check_config(tmp_path: Path, example: str, secrets_dir: str) -> None:
    """``example`` copied out as a user would, the secret files it names (their directory
    moved into a temporary one: paths are addresses too) created, and checked by the real
    CLI in an environment without HOSTNAME, as under cron or systemd."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    example = example.replace(secrets_dir, f"{secrets}/")
    for name in set(re.findall(re.escape(str(secrets)) + r"/([\w.-]+)", example)):
        (secrets / name).write_text(f"{name}-value-of-some-length\n")
    path = tmp_path / "failover.yaml"
    path.write_text(example)
    env = {k: v for k, v in os.environ.items()
           if k != "HOSTNAME" and not k.startswith("FAILOVER_")}
    done = subprocess.run([sys.executable, "-m", "controller.cli", "check-config", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def schema_errors(example: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    return [error.message for error in validator.iter_errors(yaml.safe_load(example))]


def test_ready_made_checks_in_the_guide_are_valid_config() -> None:
    block = first_yaml(DOCS / "guide" / "deploying.md", "### Ready-made checks")
    checks = yaml.safe_load(block)["readiness"]
    assert [c["name"] for c in checks] == ["raid", "smart", "disk", "backup-fresh",
                                           "replication"]
    service = GOOD["services"][0]  # type: ignore[index]
    members = [{**service["members"][0], "readiness": checks}, service["members"][1]]
    config = parse_config({**GOOD, "services": [{**service, "members": members,
                                                  "evacuate_on": ["raid", "smart"]}]}, {})
    raid = config.services[0].members[0].readiness[0]
    assert raid.kind == "exec" and "/proc/mdstat" in raid.argv[-1]  # type: ignore[union-attr]


def test_the_configuration_example_passes_check_config_as_printed(tmp_path: Path) -> None:
    example = first_yaml(DOCS / "guide" / "configuration.md")
    check_config(tmp_path, example, "/run/secrets/")
    assert schema_errors(example) == []


def test_the_readme_deployment_config_passes_check_config_as_printed(tmp_path: Path) -> None:
    example = first_yaml(README, "## A real deployment on two servers")
    check_config(tmp_path, example, "/etc/failover/")
    assert schema_errors(example) == []
    assert yaml.safe_load(example)["services"][0]["policy"]["auto_failover"] == "dry-run"
    # Its editor line names the schema by the name it has in docs/, copied beside the file.
    [name] = re.findall(r"`# yaml-language-server: \$schema=(\S+)`", README.read_text())
    assert DOCS / name == SCHEMA


def test_the_editor_example_names_the_schema_from_where_it_says(tmp_path: Path) -> None:
    guide = DOCS / "guide" / "configuration.md"
    example = first_yaml(guide, "## Checks in your editor")
    first_line = example.splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")
    relative = first_line.split("$schema=", 1)[1]
    assert "one in the repository's `examples/`" in guide.read_text()
    assert (ROOT / "examples" / relative).resolve() == SCHEMA
    check_config(tmp_path, example, "/nowhere/")
    assert schema_errors(example) == []
    [settings] = [json.loads(b) for b in code_blocks(guide, "json")]
    [(path, globs)] = settings["yaml.schemas"].items()
    assert (ROOT / path).resolve() == SCHEMA and globs == ["failover*.yaml"]


def commands(prefix: str) -> list[tuple[str, str]]:
    """(page, command line) of every line in a code block that runs ``prefix``."""
    pattern = re.compile(r"^(?:\$ |ExecStart=)?(?:/\S+/)?" + re.escape(prefix) + r"(\s.*)?$")
    out = []
    for page in PAGES:
        for block in code_blocks(page):
            for line in block.splitlines():
                line = line.split("  #", 1)[0].strip()
                if pattern.match(line):
                    out.append((page.name, line.removeprefix("$ ").removeprefix("ExecStart=")))
    return out


def test_the_pages_have_commands_to_check() -> None:
    assert len(commands("failoverctl")) >= 8 and len(commands("make")) >= 10


@pytest.mark.parametrize(("page", "line"), commands("failoverctl"))
def test_every_failoverctl_command_parses(page: str, line: str) -> None:
    words = shlex.split(line)
    assert words[0].endswith("failoverctl")
    try:
        args = build().parse_args(words[1:])
    except SystemExit as exc:
        pytest.fail(f"{page}: {line}: exit {exc.code}")
    assert callable(args.func)


def makefile_targets() -> set[str]:
    return set(re.findall(r"(?m)^([a-z][\w-]*):", (ROOT / "Makefile").read_text()))


def test_every_make_target_named_exists() -> None:
    named = {line.split()[-1] for _, line in commands("make")}
    for page in PAGES:
        named |= set(re.findall(r"`make ([a-z][\w-]*)`", page.read_text()))
    assert named - makefile_targets() == set()


def bench_commands() -> list[str]:
    found = set()
    for page in PAGES:
        found |= set(re.findall(r"python (bench/\w+\.py[^`\n]*)", page.read_text()))
    return sorted(found)


@pytest.mark.parametrize("command", bench_commands())
def test_every_bench_command_uses_flags_its_script_has(command: str) -> None:
    script, *words = command.split()
    assert (ROOT / script).is_file()
    usage = subprocess.run([sys.executable, script, "--help"], capture_output=True,
                           text=True, cwd=ROOT, timeout=60, check=True).stdout
    for flag in (w for w in words if w.startswith("--")):
        assert flag in usage, f"{command}: {flag}"


def test_the_readme_is_a_front_page() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) < 300
    for script in sorted((ROOT / "bench").glob("*.py")):  # each named, with its figures
        assert f"`bench/{script.name}`" in readme, script.name
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_the_route_watcher_snippet_uses_what_route_watcher_has() -> None:
    from controller.followers import RouteWatcher

    [block] = code_blocks(DOCS / "guide" / "traffic.md", "python")
    snippet = textwrap.dedent(block)
    compile(snippet, "traffic.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    used = set(re.findall(r"watcher\.(\w+)\(", snippet))
    assert used == {"start", "address", "changes", "close"}
    assert all(callable(getattr(RouteWatcher, name)) for name in used)
    assert "wait" in inspect.signature(RouteWatcher.start).parameters
    RouteWatcher("redis://redis:6379/0", ["web"])  # the constructor as called, no I/O yet


def test_the_security_guide_exec_hook_takes_its_secret_from_the_environment(
        tmp_path: Path) -> None:
    [block] = code_blocks(DOCS / "guide" / "security.md", "yaml")
    fence = yaml.safe_load(textwrap.dedent(block))["fence"]
    service = GOOD["services"][0]  # type: ignore[index]
    members = [{**service["members"][0], "fence": fence}, service["members"][1]]
    path = tmp_path / "failover.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "services": [{**service, "members": members}]})
                    .replace("'${FENCE_TOKEN}'", "${FENCE_TOKEN}"))
    config = load_config(path, env={"FENCE_TOKEN": "t0ken"})
    hook = config.services[0].members[0].fence
    assert hook is not None and hook.kind == "exec" and hook.env == {"FENCE_TOKEN": "t0ken"}


def test_the_readme_systemd_unit_parses() -> None:
    unit, agent = code_blocks(README, "ini")
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit)
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Service"]["ExecStart"].endswith("failoverctl run -c /etc/failover/config.yaml")
    assert parser["Service"]["KillSignal"] == "SIGTERM"
    assert agent.startswith("ExecStart=/opt/failover/bin/failoverctl agent haproxy ")


def test_every_repository_path_named_exists() -> None:
    named = set()
    for page in PAGES:
        named |= set(re.findall(r"`((?:controller|probes|config|tests|bench|charts|examples|"
                                r"docs)/[\w./-]+)`", page.read_text()))
    assert len(named) > 20
    assert {path for path in named if not (ROOT / path).exists()} == set()


def test_the_notify_example_is_valid_config(tmp_path: Path) -> None:
    from tests.unit.test_config import GOOD

    notify = yaml.safe_load(first_yaml(DOCS / "guide" / "operating.md", "## Notifications"))
    config = {**GOOD, **notify}
    assert schema_errors(yaml.safe_dump(config)) == []
    path = tmp_path / "failover.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FAILOVER_")},
           "CHAT_TOKEN": "t0ken"}
    done = subprocess.run([sys.executable, "-m", "controller.cli", "check-config", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
