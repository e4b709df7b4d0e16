"""The chart's pod, started the way a kubelet starts it, against real ZooKeeper and Redis.

No API server or container runtime runs on the build machines, so this is the closest to a
kubelet they have: real Helm renders the chart under the README's release name (`failover`);
the Deployment's container runs from exactly its command (the image's ENTRYPOINT, read from
the Dockerfile) and args, with exactly its environment (valueFrom resolved from the rendered
objects, `$(VAR)` expanded, the variables Kubernetes adds for the namespace's Services), its
ConfigMap, Secret and emptyDir volumes as files, its user and groups, no capabilities, no new
privileges and a read-only root. Mount paths are moved under a temporary root (the same move
in args and env). The values set are the ones a user sets: an API token, a Redis password,
and the addresses and ports of ZooKeeper, Redis, the members and the API.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from helm_python.chart import Chart
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from controller.devtools.sandbox import (
    LOOPBACK,
    Controller,
    Process,
    Redis,
    Sandbox,
    Web,
    ZooKeeper,
    free_port,
    wait_for,
)
from controller.events import Event
from tests.chart.test_chart import CHART, by_kind, render
from tests.kubelet import KUBERNETES_SERVICE, links_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "failover"  # `helm install failover charts/failover-controller`
API_TOKEN, REDIS_PASSWORD = "pod-api-token", "pod-redis-password"
# Where the image has pip's scripts (/usr/local/bin), this machine has the venv's.
IMAGE_PATH = f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
             "/sbin:/bin"
# A Redis installed beside it as release "failover-redis" brings this Service.
REDIS_SERVICE = {"metadata": {"name": "failover-redis"},
                 "spec": {"ports": [{"name": "tcp-redis", "port": 6379, "protocol": "TCP"}]}}


@dataclass
class Image:
    """What the Dockerfile's final stage gives a container: entry point, command, env."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]


def image_of(dockerfile: Path) -> Image:
    text = dockerfile.read_text().replace("\\\n", " ")
    final = re.split(r"(?m)^FROM .*$", text)[-1]
    image = Image([], [], {"LANG": "C.UTF-8"})  # LANG: set by the python base image
    for line in final.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif instruction == "CMD":
            image.cmd = json.loads(rest)
        elif instruction == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                image.env[key] = value
    return image


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` references in env values, command and args; `$$` escapes."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, text)


def object_named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@dataclass
class Pod:
    """One replica of the Deployment, as the kubelet would make it."""

    name: str
    spec: dict[str, Any]
    container: dict[str, Any]
    env: dict[str, str]
    argv: list[str]
    root: Path  # the temporary root the mount paths moved under
    mounts: list[tuple[Path, bool]]  # (directory, read-only)
    not_emulated: list[str]


def make_pod(objects: list[dict[str, Any]], services: list[dict[str, Any]],
             root: Path) -> Pod:
    deployment = by_kind(objects, "Deployment")
    name = f"{deployment['metadata']['name']}-5c7d9b8f6d-q2x7k"
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert not container.get("envFrom"), "envFrom: not emulated here"

    # Service variables first; the container's own env wins over them. The API server's
    # Service is always there; the namespace's others only with enableServiceLinks.
    service_env = dict(KUBERNETES_SERVICE)
    if spec.get("enableServiceLinks", True):
        for i, service in enumerate(services):
            service_env.update(links_of(service, f"10.96.{i + 10}.{i + 20}"))
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], {**service_env, **env})
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = name  # the Downward API; the chart uses no other valueFrom
        else:
            raise AssertionError(f"valueFrom {item['valueFrom']}: not emulated here")
    image = image_of(ROOT / "Dockerfile")
    command = container.get("command") or image.entrypoint
    args = container.get("args", [] if "command" in container else image.cmd)
    argv = [expand(a, {**service_env, **env}) for a in [*command, *args]]

    # Mount paths move in what the pod spec says (its env and args) and nowhere else: PATH
    # is this machine's stand-in for the image's and may lie under a mount path (/tmp).
    mounts, remap = write_volumes(spec, container, objects, root)
    # The runtime's part: the image's env under the container's, and the pod's hostname.
    full_env = {**image.env, "PATH": IMAGE_PATH, "HOSTNAME": name, **service_env,
                **{k: remap(v) for k, v in env.items()}}
    not_emulated = []
    if spec["securityContext"].get("seccompProfile") or \
            container.get("securityContext", {}).get("seccompProfile"):
        not_emulated.append("seccompProfile (no container runtime to load a profile)")
    return Pod(name, spec, container, full_env, [remap(a) for a in argv], root, mounts,
               not_emulated)


def write_volumes(spec: dict[str, Any], container: dict[str, Any],
                  objects: list[dict[str, Any]], root: Path,
                  ) -> tuple[list[tuple[Path, bool]], Callable[[str], str]]:
    """Each mounted volume as files under ``root``; and the path move for args and env."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    group = spec.get("securityContext", {}).get("fsGroup")
    chown = os.geteuid() == 0 and group is not None
    mounts: list[tuple[Path, bool]] = []
    for mount in container.get("volumeMounts", []):
        assert not mount.get("subPath"), "subPath: not emulated here"
        volume = volumes[mount["name"]]
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True)
        files: dict[str, bytes] = {}
        if "configMap" in volume:
            source = volume["configMap"]
            data = object_named(objects, "ConfigMap", source["name"])
            files = {k: v.encode() for k, v in data.get("data", {}).items()}
        elif "secret" in volume:
            source = volume["secret"]
            data = object_named(objects, "Secret", source["secretName"])
            files = {k: base64.b64decode(v) for k, v in data.get("data", {}).items()}
        elif "emptyDir" in volume:
            source = {}
            target.chmod(0o2777 if group is not None else 0o777)
        else:
            raise AssertionError(f"volume {sorted(volume)}: not emulated here")
        modes = dict.fromkeys(files, source.get("defaultMode", 0o644))
        if source.get("items"):  # only these keys, at these paths; a missing key fails the pod
            missing = [i["key"] for i in source["items"] if i["key"] not in files]
            assert not missing, f"volume {mount['name']}: no key {missing} in its source"
            modes = {i["path"]: i.get("mode", source.get("defaultMode", 0o644))
                     for i in source["items"]}
            files = {i["path"]: files[i["key"]] for i in source["items"]}
        for key, content in files.items():
            path = target / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(modes[key])
            if chown:
                os.chown(path, 0, group)
        if chown:
            os.chown(target, 0, group)
        mounts.append((target, bool(mount.get("readOnly"))))

    paths = sorted((m["mountPath"].rstrip("/") for m in container.get("volumeMounts", [])),
                   key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, paths)) + r")(?=/|\b|$)")

    def remap(text: str) -> str:
        return pattern.sub(lambda m: str(root) + m.group(1), text) if paths else text

    return mounts, remap


def private_ancestor(path: Path) -> Path | None:
    """The first directory above ``path`` that other users cannot enter, if any."""
    for ancestor in reversed(path.parents):
        if ancestor != Path("/") and not ancestor.stat().st_mode & 0o001:
            return ancestor
    return None


def mount_script(pod: Pod, read_only_root: bool) -> str:
    """Run in a mount namespace of its own, as root, before the user changes: writable
    volumes stay writable, read-only ones and the root become read-only."""
    q = shlex.quote
    lines = ["set -e"]
    for path, read_only in pod.mounts:
        lines.append(f"mount --bind {q(str(path))} {q(str(path))}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {q(str(path))}")
    # The image has Python in /usr/local, readable by anyone. If this machine's interpreter
    # (under the venv) lives in a private directory such as /root, show the pod only that
    # installation there, on an otherwise empty tmpfs, where the venv expects it.
    prefix = Path(sys.base_prefix)
    private = private_ancestor(prefix)
    if private is not None:
        stash = pod.root / ".interpreter"
        stash.mkdir()
        lines += [f"mount --bind {q(str(prefix))} {q(str(stash))}",
                  f"mount -t tmpfs -o mode=0755,size=1m tmpfs {q(str(private))}",
                  f"mkdir -p {q(str(prefix))}",
                  f"mount --bind -o ro {q(str(stash))} {q(str(prefix))}",
                  f"umount {q(str(stash))}", f"mount -o remount,ro {q(str(private))}"]
    if read_only_root:
        lines.append("mount -o remount,bind,ro /")
    lines += ["unset PWD", 'exec "$@"']  # the shell's PWD is no part of the pod's env
    return "\n".join(lines) + "\n"


def launch(pod: Pod, sandbox: Sandbox) -> tuple[Process, bool]:
    """The container's process, and whether it got its user, groups, privileges and
    read-only root (that takes root, setpriv and unshare)."""
    pod_context = pod.spec.get("securityContext", {})
    context = {**pod_context, **pod.container.get("securityContext", {})}
    wrap: list[str] = []
    setpriv, unshare = shutil.which("setpriv"), shutil.which("unshare")
    if os.geteuid() == 0 and setpriv and unshare:
        uid, gid = context.get("runAsUser"), context.get("runAsGroup", context.get("runAsUser"))
        if context.get("runAsNonRoot"):
            assert uid not in (None, 0), "runAsNonRoot with root or no runAsUser"
        script = mount_script(pod, bool(context.get("readOnlyRootFilesystem")))
        wrap = [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                "sh", setpriv]
        if uid is not None:
            wrap += [f"--reuid={uid}", f"--regid={gid}"]
        groups = [str(g) for g in (pod_context.get("fsGroup"),
                                   *pod_context.get("supplementalGroups", [])) if g is not None]
        wrap += [f"--groups={','.join(groups)}"] if groups else ["--clear-groups"]
        if context.get("allowPrivilegeEscalation") is False:
            wrap.append("--no-new-privs")
        if "ALL" in context.get("capabilities", {}).get("drop", []):
            wrap += ["--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"]
        wrap.append("--")
    else:
        pod.not_emulated.append("runAsUser, groups, capabilities, no_new_privs and the "
                                "read-only root (needs root, setpriv and unshare)")
    process = sandbox.spawn(f"pod-{pod.name}", [*wrap, *pod.argv], env=pod.env,
                            cwd=Path("/"))  # no WORKDIR in the image's final stage
    return process, bool(wrap)


def probe_passes(probe: dict[str, Any], container: dict[str, Any]) -> bool:
    """An httpGet probe as the kubelet runs it: any status from 200 to 399 passes."""
    port = probe["httpGet"]["port"]
    if not isinstance(port, int):
        [port] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    url = f"http://{LOOPBACK}:{port}{probe['httpGet']['path']}"
    try:
        with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as answer:
            return 200 <= answer.status < 400
    except urllib.error.HTTPError as exc:
        return 200 <= exc.code < 400


def chart_values(zk: ZooKeeper, redis: Redis, webs: dict[str, Web], api_port: int,
                 service_links: bool) -> dict[str, Any]:
    """The chart's defaults with the placeholders' addresses and ports replaced, a token and
    a Redis password for the chart-made Secret, and service links as the case wants."""
    config = copy.deepcopy(Chart.load(CHART).values["config"])
    config["zookeeper"]["hosts"] = zk.hosts
    config["redis"]["url"] = redis.url
    for member in config["services"][0]["members"]:
        web = webs[member["name"]]
        member["address"] = web.address
        url = urlsplit(member["probe"]["url"])
        member["probe"]["url"] = urlunsplit(url._replace(netloc=web.address))
    values: dict[str, Any] = {"config": config, "apiPort": api_port,
                              "auth": {"apiToken": API_TOKEN, "redisPassword": REDIS_PASSWORD}}
    if service_links:
        values["enableServiceLinks"] = True
    return values


def run_helm_test(objects: list[dict[str, Any]], api_address: str,
                  path: str) -> subprocess.CompletedProcess[str]:
    """The chart's `helm test` pod's container, its Service's address swapped for the pod's
    own (no cluster DNS here): exactly its args and env otherwise."""
    [test] = [o for o in objects if o["kind"] == "Pod"]
    [container] = test["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    url = urlsplit(env["FAILOVER_API_URL"])
    assert url.hostname == f"{RELEASE}-failover-controller-all"
    env["FAILOVER_API_URL"] = urlunsplit(url._replace(netloc=api_address))
    image = image_of(ROOT / "Dockerfile")
    argv = [*(container.get("command") or image.entrypoint), *container["args"]]
    return subprocess.run(argv, env={**image.env, "PATH": path, **env}, capture_output=True,
                          text=True, timeout=60, cwd="/")


@pytest.fixture
def pod_root() -> Iterator[Path]:
    # Not under pytest's tmp_path: its parents are private to root, and the pod's user must
    # reach its volumes.
    root = Path(tempfile.mkdtemp(prefix="failover-pod-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("service_links", [False, True], ids=["as-rendered", "service-links-on"])
def test_the_chart_pod_leads_and_publishes_the_route(
        sandbox: Sandbox, zookeeper: ZooKeeper, pod_root: Path, service_links: bool,
        record_property: Callable[[str, object], None]) -> None:
    redis = sandbox.redis(password=REDIS_PASSWORD)
    webs = {name: sandbox.web(f"pod-{name}-{service_links}") for name in ("web-a", "web-b")}
    values = chart_values(zookeeper, redis, webs, free_port(), service_links)
    objects = render(values, release=RELEASE)
    own_service = object_named(objects, "Service", "failover-failover-controller")
    all_service = object_named(objects, "Service", "failover-failover-controller-all")
    config = values["config"]
    # One ZooKeeper serves the whole session: start from an empty cluster namespace.
    zk = KazooClient(hosts=zookeeper.hosts)
    zk.start(timeout=10)
    try:
        with contextlib.suppress(NoNodeError):
            zk.delete(f"{config['zookeeper']['root']}/{config['cluster']}", recursive=True)
    finally:
        zk.stop()
        zk.close()

    services = [own_service, all_service, REDIS_SERVICE]
    pod = make_pod(objects, services, pod_root)
    names = {n for service in services for n in links_of(service, "")}
    assert {"FAILOVER_FAILOVER_CONTROLLER_PORT_8080_TCP_ADDR",
            "FAILOVER_FAILOVER_CONTROLLER_ALL_SERVICE_HOST",
            "FAILOVER_REDIS_SERVICE_HOST"} <= names
    links = sorted(names & set(pod.env))
    assert links == (sorted(names) if service_links else [])
    process, secured = launch(pod, sandbox)
    record_property("not_emulated", pod.not_emulated)
    controller = Controller(process, pod.name, f"{LOOPBACK}:{values['apiPort']}")
    try:
        # The kubelet's probes, as the chart defines them.
        container = pod.container
        wait_for(lambda: probe_passes(container["startupProbe"], container), 30,
                 "the startup probe to pass", interval=0.05, while_alive=process)
        wait_for(lambda: probe_passes(container["readinessProbe"], container), 30,
                 "the readiness probe to pass", interval=0.05, while_alive=process)
        assert probe_passes(container["livenessProbe"], container)

        status = wait_for(lambda: (s := controller.status())["leader"] and s, 30, "leadership",
                          interval=0.05, while_alive=process)
        assert status["node"] == pod.name  # FAILOVER_NODE_ID from the Downward API
        route_key = f"{config['redis']['key_prefix']}:route:web"
        route = wait_for(lambda: redis.command("HGETALL", route_key), 10, "the route",
                         while_alive=process)
        assert route["primary"] == "web-a" and route["address"] == webs["web-a"].address
        assert int(route["epoch"]) == status["epoch"]
        assert int(route["version"]) >= 1
        # The API token came from the chart's Secret, through the mounted file.
        pause = "/v1/services/web/pause"
        assert controller.call("POST", pause, {"for": "1m"}, token="wrong")[0] == 401
        code, body = controller.call("POST", pause, {"for": "1m"}, token=API_TOKEN)
        assert (code, body["by"]) == (200, "operator"), body

        # The process is the container's: its env exactly, and (as root here) its user,
        # groups, privileges and root file system.
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        assert dict(e.decode().split("=", 1) for e in environ if e) == pod.env
        # [interpreter, script, *args]: the entry point found on the image's PATH
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert cmdline[-len(pod.argv):] == [shutil.which(pod.argv[0], path=pod.env["PATH"]),
                                             *pod.argv[1:]]
        if secured:
            context = {**pod.spec["securityContext"], **container["securityContext"]}
            proc = {k: v.split() for k, _, v in (line.partition(":\t") for line in
                    Path(f"/proc/{process.pid}/status").read_text().splitlines())}
            assert proc["Uid"] == [str(context["runAsUser"])] * 4, proc["Uid"]
            assert proc["Gid"] == [str(context["runAsGroup"])] * 4, proc["Gid"]
            assert proc["Groups"] == [str(context["fsGroup"])], proc["Groups"]
            assert int(proc["CapEff"][0], 16) == int(proc["CapBnd"][0], 16) == 0
            assert proc["NoNewPrivs"] == ["1"]
            options = {fields[4]: fields[5].split(",")[0] for fields in (
                line.split() for line in
                Path(f"/proc/{process.pid}/mountinfo").read_text().splitlines())}
            assert options["/"] == "ro"
            assert {str(path): options[str(path)] for path, _ in pod.mounts} == {
                str(path): "ro" if read_only else "rw" for path, read_only in pod.mounts}

        # Secrets by key, readable by the pod's group and nobody else.
        secrets = pod.root / "run/secrets/failover"
        assert {p.name: p.stat().st_mode & 0o777 for p in secrets.iterdir()} == {
            "api-token": 0o440, "redis-password": 0o440}

        # Redis goes away: the pod turns NotReady but lives, and the chart's `helm test` pod
        # still gets `failoverctl status` through the Service that keeps not-ready replicas.
        redis.process.kill()
        wait_for(lambda: not probe_passes(container["readinessProbe"], container), 30,
                 "readiness to fail without Redis", interval=0.05, while_alive=process)
        assert probe_passes(container["livenessProbe"], container)
        assert probe_passes(container["startupProbe"], container)
        result = run_helm_test(objects, f"{LOOPBACK}:{values['apiPort']}", pod.env["PATH"])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "web" in result.stdout

        ignored = controller.events(Event.ENV_NOT_OVERRIDES)
        if service_links:
            [line] = ignored
            assert set(line["ignored"]) == set(links)
        else:
            assert ignored == []
    finally:
        process.stop()


