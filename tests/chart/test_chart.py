"""The Helm chart, rendered and linted by real Helm (helm-python-sdk embeds Helm's Go SDK),
every object validated against the Kubernetes schemas, no cluster needed."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmError

from config import load_config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "failover-controller"
EXAMPLE = yaml.safe_load((CHART / "examples" / "production-values.yaml").read_text())
# The keys of the user's own Secret that the example values mount.
EXAMPLE_SECRET_KEYS = {k for k in EXAMPLE["auth"]["existingSecretKeys"].values() if k} | {
    t["key"] for t in EXAMPLE["auth"]["namedTokens"]}
KUBERNETES = kubernetes_validate.latest_version()
CRD_KINDS = {"ServiceMonitor"}  # not in the core schemas; checked by shape below
# The ServiceMonitor endpoint fields the chart may render (prometheus-operator's v1 API).
MONITOR_ENDPOINT_FIELDS = {"port", "path", "scheme", "interval", "scrapeTimeout",
                           "authorization", "tlsConfig", "relabelings", "metricRelabelings"}


def render(values: dict[str, Any] | None = None, release: str = "rel") -> list[dict[str, Any]]:
    manifests = Chart.load(CHART).render(values or {}, name=release, namespace="ops")
    objects = []
    for path, text in manifests.items():
        if path.endswith(".txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def validate_all(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert set(obj["spec"]) == {"selector", "endpoints"}
            for endpoint in obj["spec"]["endpoints"]:
                assert set(endpoint) <= MONITOR_ENDPOINT_FIELDS, endpoint
                assert endpoint["scheme"] in {"http", "https"}
                if "authorization" in endpoint:
                    assert endpoint["authorization"]["type"] == "Bearer"
                    assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


VARIATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "api-token": {"auth": {"apiToken": "s3cret", "redisPassword": "r"}},
    "existing-secret": {"auth": {"existingSecret": "mine"}},
    "service-monitor": {"serviceMonitor": {"enabled": True}},
    "network-policy": {"networkPolicy": {"enabled": True}},
    "five-replicas-hard-anti-affinity": {"replicaCount": 5, "podAntiAffinity": "hard"},
    "extra-env": {"extraEnv": [{"name": "FAILOVER_LOG_LEVEL", "value": "debug"}]},
    "service-links": {"enableServiceLinks": True},
    "example-values": EXAMPLE,
    "sentinel": {"config": {**EXAMPLE["config"]},
                 "auth": {"redisPassword": "r", "redisSentinelPassword": "sentinel-secret",
                          "zookeeperPassword": "zookeeper-secret"}},
}


@pytest.mark.parametrize("name", VARIATIONS)
def test_renders_valid_kubernetes_objects(name: str) -> None:
    objects = render(VARIATIONS[name])
    validate_all(objects)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} <= kinds


def test_lint_is_clean() -> None:
    for values in (None, EXAMPLE):
        report = lint(CHART, values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], report


def test_deployment_defaults_are_production_safe() -> None:
    objects = render()
    deployment = by_kind(objects, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["terminationGracePeriodSeconds"] >= 10
    assert pod["enableServiceLinks"] is False  # no FAILOVER_* variables from other Services
    env = {e["name"]: e for e in container["env"]}
    assert env["FAILOVER_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "checksum/config" in spec["template"]["metadata"]["annotations"]
    assert by_kind(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]


def test_the_network_policy_lets_the_helm_test_pod_in() -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    objects = render({"networkPolicy": {"enabled": True, "from": peers}})
    [rule] = by_kind(objects, "NetworkPolicy")["spec"]["ingress"]
    [test_pod] = [o for o in objects if o["kind"] == "Pod"]
    [_, own] = rule["from"]
    assert own["podSelector"]["matchLabels"].items() <= test_pod["metadata"]["labels"].items()
    assert not own["podSelector"]["matchLabels"].items() <= by_kind(
        objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = by_kind(render(values), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    changed = yaml.safe_load(yaml.safe_dump(Chart.load(CHART).values))["config"]
    changed["cluster"] = "other"
    assert checksum({}) != checksum({"config": changed})


def test_existing_secret_is_mounted_by_its_keys_and_no_secret_is_created() -> None:
    objects = render(EXAMPLE)
    assert not [o for o in objects if o["kind"] == "Secret"]
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert volume["secret"]["secretName"] == "failover-secrets"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FAILOVER_API__TOKEN_FILE"] == "/run/secrets/failover/api-token"
    assert env["FAILOVER_REDIS__PASSWORD_FILE"] == "/run/secrets/failover/redis-password"
    # The production example turns ZooKeeper's digest auth on (its default ACL is open).
    assert env["FAILOVER_ZOOKEEPER__PASSWORD_FILE"] == \
        "/run/secrets/failover/zookeeper-password"
    assert json.loads(env["FAILOVER_API__TOKENS"]) == [
        {"name": "oncall", "token_file": "/run/secrets/failover/oncall-token"},
        {"name": "deploy-bot", "token_file": "/run/secrets/failover/deploy-bot-token"}]


def test_the_guide_secret_has_every_key_the_example_values_mount() -> None:
    """Following the Kubernetes guide, the controller must find each secret file the example
    names."""
    guide = (ROOT / "docs" / "guide" / "kubernetes.md").read_text()
    command = guide[guide.index("kubectl create secret generic failover-secrets"):]
    command = command[:command.index("\ncp ")]
    created = set(re.findall(r"--from-literal=([a-z0-9-]+)=", command))
    assert EXAMPLE_SECRET_KEYS <= created, EXAMPLE_SECRET_KEYS - created


@pytest.mark.parametrize(("bad", "where"), [
    ({"replicaCount": "three"}, "/replicaCount"),
    ({"replicaCount": 0}, "/replicaCount"),
    ({"unknownTopLevel": 1}, "unknownTopLevel"),
    ({"image": {"repository": ""}}, "/image/repository"),
    ({"podAntiAffinity": "sometimes"}, "/podAntiAffinity"),
    ({"enableServiceLinks": "no"}, "/enableServiceLinks"),
    ({"service": {"port": 70000}}, "/service/port"),
    ({"auth": {"apiToken": 5}}, "/auth/apiToken"),
    ({"auth": {"namedTokens": [{"name": "bad name", "key": "k"}]}}, "/auth/namedTokens"),
])
def test_schema_rejects_bad_values_naming_the_key(bad: dict[str, Any], where: str) -> None:
    chart = Chart.load(CHART)
    with pytest.raises(HelmError, match=where):
        chart.validate_schema(chart.merge_values(bad))


@pytest.mark.parametrize("name", ["defaults", "api-token", "example-values", "sentinel"])
def test_check_config_accepts_the_rendered_config(name: str, tmp_path: Path) -> None:
    """The ConfigMap plus the pod's environment, as the container would see them."""
    objects = render(VARIATIONS[name])
    (tmp_path / "config.yaml").write_text(by_kind(objects, "ConfigMap")["data"]["config.yaml"])
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for secret in (o for o in objects if o["kind"] == "Secret"):
        for key, value in secret["data"].items():
            (secrets / key).write_bytes(base64.b64decode(value))
    if name == "example-values":  # the user's own Secret, as they would create it
        for key in EXAMPLE_SECRET_KEYS:
            (secrets / key).write_text(f"{key}-value")
    container = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"].replace("/run/secrets/failover", str(secrets))
           for e in container["env"] if "value" in e}
    env["FAILOVER_NODE_ID"] = "rel-failover-controller-abc12"
    config = load_config(tmp_path / "config.yaml", env=env)
    assert config.node_id == "rel-failover-controller-abc12"
    assert config.api.listen == "0.0.0.0:8080"
    if name == "example-values":
        assert config.api.named_tokens()["oncall"] == "oncall-token-value"
    if name == "sentinel":  # every secret the chart takes reaches the config through a file
        secret = config.redis.sentinel_password
        assert secret is not None and secret.get_secret_value() == "sentinel-secret"


def test_failoverctl_version_runs_from_the_built_wheel(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    [wheel] = tmp_path.glob("failover_controller-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"controller/cli/main.py", "controller/core/decide.py", "probes/health.py",
            "config/models.py"} <= set(names)
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    result = subprocess.run([str(target / "bin" / "failoverctl"), "--version"],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "failoverctl 0.1.0"


def test_app_version_matches_the_package() -> None:
    from controller import __version__

    metadata = Chart.load(CHART).metadata
    assert metadata["appVersion"] == __version__
    assert metadata["apiVersion"] == "v2"
