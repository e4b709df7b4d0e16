"""The image's build steps, run as the Dockerfile writes them, without a container engine;
and the README's install from `make dist`, which does the same outside a container.

No docker runs on the build machines, so the Dockerfile's RUN lines are run here in a
scratch venv standing in for the image's Python: the same commands, with the build
context copied as its COPY lines do and /wheels moved into a temporary folder. What the
image would hold is then checked: exactly uv.lock's runtime versions, installed with hashes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from controller import __version__

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# Needs root and changes the machine's users: the only RUN line not run here.
SKIPPED = ("groupadd",)


def stages() -> list[list[str]]:
    """Each stage's instructions, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines()
             if not line.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    out: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            out.append([])
        if line.strip() and out:
            out[-1].append(line.strip())
    return out


def argument(name: str) -> str:
    [value] = [line.split("=", 1)[1] for stage in stages() for line in stage
               if line.startswith(f"ARG {name}=")]
    return value


def makefile_variable(name: str) -> str:
    done = subprocess.run(["make", "-s", "--no-print-directory", "-f", "-", "print"],
                          input=f"include Makefile\nprint:\n\t@echo $({name})\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return done.stdout.strip()


def test_the_version_is_said_once() -> None:
    """`make image` tags with the package's version; the chart's appVersion is checked
    against the same (tests/chart/test_chart.py), and the image's uv is the Makefile's."""
    assert makefile_variable("VERSION") == __version__
    image = subprocess.run(["make", "-n", "image"], capture_output=True, text=True, cwd=ROOT,
                           timeout=60, check=True).stdout
    assert f"-t failover-controller:{__version__} ." in image
    assert argument("UV_VERSION") == makefile_variable("UV_VERSION")


def run_stage(stage: list[str], context: Path, venv: Path, wheels: Path) -> None:
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv), "UV_VERSION": argument("UV_VERSION")}
    env.pop("PYTHONPATH", None)
    for line in stage:
        instruction, _, command = line.partition(" ")
        if instruction != "RUN" or command.startswith(SKIPPED):
            continue
        command = command.replace("/wheels", str(wheels))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=context,
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"


def locked_runtime_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    packages = {p["name"]: p for p in lock["package"]}
    wanted = [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower()
              for d in project["dependencies"]]
    out: dict[str, str] = {}
    while wanted:
        name = wanted.pop().replace("_", "-")
        if name in out:
            continue
        out[name] = packages[name]["version"]
        for dependency in packages[name].get("dependencies", []):
            marker = dependency.get("marker", "")
            if "python_full_version < '3.11" in marker and sys.version_info >= (3, 11, 3):
                continue
            wanted.append(dependency["name"])
    return out


def test_the_image_installs_the_locked_versions_with_hashes(tmp_path: Path) -> None:
    build, final = stages()
    context = tmp_path / "src"
    context.mkdir()
    for line in build:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, context / source)
    wheels = tmp_path / "wheels"
    builder, image = tmp_path / "build-python", tmp_path / "image-python"
    for venv in (builder, image):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)

    run_stage(build, context, builder, wheels)
    requirements = (wheels / "requirements.txt").read_text()
    assert "--hash=sha256:" in requirements
    assert not re.search(r"(?m)^(-e|\.|failover-controller)", requirements)  # ours: the wheel
    [wheel] = wheels.glob("failover_controller-*.whl")
    assert wheel.name.startswith(f"failover_controller-{__version__}-")

    run_stage(final, context, image, wheels)
    assert not wheels.exists()  # the final stage removes what it installed from
    assert_holds_the_lock(image, tmp_path)


def assert_holds_the_lock(venv: Path, cwd: Path) -> None:
    """``venv`` holds uv.lock's runtime versions and ours, nothing else, and runs."""
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list",
                             "--format=freeze", "--exclude", "pip", "--exclude", "setuptools"],
                            capture_output=True, text=True, check=True, timeout=120).stdout
    installed = {name.lower().replace("_", "-"): version for name, version in
                 (line.split("==") for line in frozen.split())}
    assert installed == {**locked_runtime_versions(), "failover-controller": __version__}
    version = subprocess.run([str(venv / "bin" / "failoverctl"), "--version"],
                             capture_output=True, text=True, timeout=60, cwd=cwd)
    assert version.stdout.strip() == f"failoverctl {__version__}", version.stderr


def test_the_readme_install_from_make_dist_gives_the_locked_versions(tmp_path: Path) -> None:
    """The README's deployment, step 2, as printed: `make dist`, then its commands with
    /opt/failover moved into a temporary folder, and dist/ where make wrote it."""
    readme = (ROOT / "README.md").read_text()
    step = readme[readme.index("**2. Install**"):readme.index("**3. The config**")]
    [block] = re.findall(r"```sh\n(.*?)```", step, re.DOTALL)
    dist = tmp_path / "dist"
    subprocess.run(["make", "-s", "dist", f"DIST={dist}"], cwd=ROOT, check=True, timeout=300,
                   capture_output=True)
    venv = tmp_path / "opt-failover"
    script = block.replace("/opt/failover", str(venv)).replace("dist/", f"{dist}/")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    assert_holds_the_lock(venv, tmp_path)
