"""The chart's rollouts, its way in during a store outage, and what users of well-kept charts
expect: each rendered by real Helm, linted strictly and validated against the Kubernetes
schemas (of the version the render targets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python import _native
from helm_python.chart import Chart, lint
from helm_python.errors import HelmError

from controller.devtools import chart_readme
from tests.chart.test_chart import CHART, EXAMPLE, by_kind, render, validate_all

DIGEST = "sha256:" + "ab" * 32


def render_for(values: dict[str, Any], kube_version: str,
               api_versions: list[str] | None = None) -> list[dict[str, Any]]:
    """Render as for a cluster of ``kube_version``. The SDK's Python wrapper does not pass
    the Capabilities its Go side takes, so this calls the same native function with them."""
    chart = Chart.load(CHART)
    options = {"name": "rel", "namespace": "ops", "kube_version": kube_version,
               "api_versions": api_versions or []}
    manifests = json.loads(_native.call_string(
        "helm_render", chart._raw(), json.dumps(values), json.dumps(options)))
    return [doc for path, text in manifests.items() if not path.endswith(".txt")
            for doc in yaml.safe_load_all(text) if doc]


def notes(values: dict[str, Any]) -> str:
    manifests = Chart.load(CHART).render(values, name="rel", namespace="ops")
    [text] = [t for path, t in manifests.items() if path.endswith("NOTES.txt")]
    return text


def strategy(values: dict[str, Any]) -> dict[str, Any]:
    objects = render(values)
    validate_all(objects)
    return dict(by_kind(objects, "Deployment")["spec"]["strategy"])


def refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=message):
        render(values)


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(by_kind(objects, "Deployment")["spec"]["template"]["spec"])


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


# --- item 3: rollouts that cannot deadlock ---------------------------------------------------


def test_soft_anti_affinity_surges_one_pod_first() -> None:
    assert strategy({}) == {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_hard_anti_affinity_rolls_one_down_then_one_up() -> None:
    """With nodes = replicas a surge pod has no node: it must not be the default."""
    assert strategy({"podAntiAffinity": "hard"}) == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    # a 0 the user wrote stays 0 (sprig's merge took it for absent)
    assert strategy({"updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}
                    ) == {"type": "RollingUpdate",
                          "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert strategy({"podAntiAffinity": "hard",
                     "updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}}) == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}}


@pytest.mark.parametrize("surge", [1, "25%"])
def test_hard_anti_affinity_with_a_surge_is_refused(surge: int | str) -> None:
    refused({"podAntiAffinity": "hard", "updateStrategy": {"rollingUpdate": {"maxSurge": surge}}},
            r"updateStrategy\.rollingUpdate\.maxSurge: .* podAntiAffinity: hard never "
            r"schedules the surge pod")


def test_own_affinity_replaces_the_preset_and_its_strategy() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["ops"]}]}]}}}
    objects = render({"podAntiAffinity": "hard", "affinity": affinity})
    validate_all(objects)
    assert pod_spec(objects)["affinity"] == affinity
    assert by_kind(objects, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1


def test_recreate_renders_without_a_rolling_update_block() -> None:
    assert strategy({"updateStrategy": {"type": "Recreate"}}) == {"type": "Recreate"}
    assert strategy({"podAntiAffinity": "hard",
                     "updateStrategy": {"type": "Recreate"}}) == {"type": "Recreate"}


def test_impossible_strategies_are_refused() -> None:
    refused({"updateStrategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
            r"updateStrategy\.rollingUpdate: only with type RollingUpdate")
    refused({"updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
            r"updateStrategy\.rollingUpdate: maxSurge and maxUnavailable are both 0")


# --- item 4: the API in a store outage ---------------------------------------------------------


def test_a_second_service_reaches_replicas_that_are_not_ready() -> None:
    objects = render()
    main = named(objects, "Service", "rel-failover-controller")
    every = named(objects, "Service", "rel-failover-controller-all")
    assert every["spec"]["publishNotReadyAddresses"] is True
    assert not main["spec"].get("publishNotReadyAddresses")
    assert every["spec"]["selector"] == main["spec"]["selector"]
    assert every["spec"]["ports"] == main["spec"]["ports"]
    container = pod_spec(objects)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "svc/rel-failover-controller-all" in notes({})
    without = render({"serviceAll": {"enabled": False}})
    assert [s["metadata"]["name"] for s in without if s["kind"] == "Service"] == [
        "rel-failover-controller"]
    assert "svc/rel-failover-controller 8080" in notes({"serviceAll": {"enabled": False}})


@pytest.mark.parametrize(("kube", "policy"), [
    ("v1.25.0", None), ("v1.26.9", None), ("v1.27.0", "AlwaysAllow"), ("v1.37.0", "AlwaysAllow")])
def test_pdb_evicts_unhealthy_pods_where_the_cluster_has_the_field(
        kube: str, policy: str | None) -> None:
    objects = render_for({}, kube)
    for obj in objects:
        kubernetes_validate.validate(obj, kube.lstrip("v"), strict=True)
    assert by_kind(objects, "PodDisruptionBudget")["spec"].get(
        "unhealthyPodEvictionPolicy") == policy
    off = render_for({"podDisruptionBudget": {"unhealthyPodEvictionPolicy": ""}}, kube)
    assert "unhealthyPodEvictionPolicy" not in by_kind(off, "PodDisruptionBudget")["spec"]


# --- item 5: what users of the best charts expect --------------------------------------------

EVERYTHING: dict[str, Any] = {
    "global": {"imageRegistry": "mirror.example:5000", "imagePullSecrets": [{"name": "g"}],
               "someParentValue": 1},
    "image": {"digest": DIGEST},
    "imagePullSecrets": [{"name": "own"}],
    "commonLabels": {"team": "sre"},
    "commonAnnotations": {"owner": "sre@example.com"},
    "priorityClassName": "system-cluster-critical",
    "zoneSpread": "DoNotSchedule",
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"x": "y"}}}],
    "extraEnvFrom": [{"configMapRef": {"name": "more-env"}}],
    "extraVolumes": [{"name": "tls", "secret": {"secretName": "api-tls", "defaultMode": 288}}],
    "extraVolumeMounts": [{"name": "tls", "mountPath": "/run/tls", "readOnly": True}],
    "initContainers": [{"name": "wait", "image": "busybox:1.36", "command": ["true"]}],
    "lifecycle": {"preStop": {"sleep": {"seconds": 1}}},
    "auth": {"apiToken": "t", "redisPassword": "r", "redisSentinelPassword": "s",
             "zookeeperPassword": "z"},
    "serviceMonitor": {"enabled": True, "scrapeTimeout": "5s",
                       "tlsConfig": {"serverName": "failover", "ca": {"secret": {
                           "name": "api-tls", "key": "ca.crt"}}},
                       "relabelings": [{"action": "replace", "targetLabel": "cluster",
                                        "replacement": "prod"}],
                       "metricRelabelings": [{"action": "drop", "regex": "python_.*",
                                              "sourceLabels": ["__name__"]}]},
    "helmTest": {"env": [{"name": "FAILOVER_API_CACERT", "value": "/run/tls/ca.crt"}]},
    "extraObjects": [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "{{ include \"failover.fullname\" . }}-extra"},
         "data": {"release": "{{ .Release.Name }}"}},
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-from-string\n",
    ],
}


def with_tls(values: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(yaml.safe_dump(Chart.load(CHART).values["config"]))
    config["api"] = {"tls_cert_file": "/run/tls/tls.crt", "tls_key_file": "/run/tls/tls.key",
                     "read_auth": True}
    return {**values, "config": config}


def test_every_option_at_once_renders_valid_objects_and_lints() -> None:
    values = with_tls(EVERYTHING)
    objects = render(values)
    validate_all(objects)
    report = lint(CHART, values, strict=True)
    assert not [m for m in report["messages"] if m["severity"] >= 2] and not report["errors"]
    pod = pod_spec(objects)
    [container] = pod["containers"]
    assert container["image"] == f"mirror.example:5000/failover-controller:0.1.0@{DIGEST}"
    assert pod["imagePullSecrets"] == [{"name": "own"}, {"name": "g"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    zone, host = pod["topologySpreadConstraints"]
    assert (zone["topologyKey"], zone["whenUnsatisfiable"]) == (
        "topology.kubernetes.io/zone", "DoNotSchedule")
    assert host["topologyKey"] == "kubernetes.io/hostname"
    assert container["envFrom"] == [{"configMapRef": {"name": "more-env"}}]
    assert {"name": "tls", "mountPath": "/run/tls", "readOnly": True} in container["volumeMounts"]
    assert pod["initContainers"][0]["name"] == "wait"
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 1}}}
    for obj in objects:
        if obj["metadata"]["name"] in {"rel-failover-controller-extra", "rel-from-string"}:
            continue  # the extraObjects are as given
        assert obj["metadata"]["labels"]["team"] == "sre", obj["kind"]
        assert obj["metadata"]["annotations"]["owner"] == "sre@example.com", obj["kind"]
    assert named(objects, "ConfigMap", "rel-failover-controller-extra")["data"] == {
        "release": "rel"}
    named(objects, "ConfigMap", "rel-from-string")


def test_secrets_are_mounted_by_key_readable_by_the_pod_group_only() -> None:
    objects = render(EVERYTHING)
    pod = pod_spec(objects)
    [volume] = [v["secret"] for v in pod["volumes"] if v["name"] == "secrets"]
    assert volume["defaultMode"] == 0o440
    keys = ["api-token", "redis-password", "redis-sentinel-password", "zookeeper-password"]
    assert volume["items"] == [{"key": k, "path": k} for k in keys]
    assert set(by_kind(objects, "Secret")["data"]) == set(keys)
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FAILOVER_REDIS__SENTINEL_PASSWORD_FILE"] == \
        "/run/secrets/failover/redis-sentinel-password"
    # your own Secret: only the keys named, each once (a named token may reuse a key)
    mine = render({"auth": {"existingSecret": "mine", "existingSecretKeys": {
        "apiToken": "api-token", "redisSentinelPassword": "sentinel"},
        "namedTokens": [{"name": "ops", "key": "api-token"}, {"name": "bot", "key": "bot"}]}})
    [volume] = [v["secret"] for v in pod_spec(mine)["volumes"] if v["name"] == "secrets"]
    assert [i["key"] for i in volume["items"]] == ["api-token", "sentinel", "bot"]


def test_service_monitor_scrapes_every_replica_with_the_token_when_reads_need_one() -> None:
    objects = render(with_tls(EVERYTHING))
    monitor = by_kind(objects, "ServiceMonitor")
    every = named(objects, "Service", "rel-failover-controller-all")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= every["metadata"]["labels"].items()
    main = named(objects, "Service", "rel-failover-controller")
    assert not selector.items() <= main["metadata"]["labels"].items()  # not scraped twice
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["scrapeTimeout"] == "5s"
    assert endpoint["authorization"] == {
        "type": "Bearer", "credentials": {"name": "rel-failover-controller", "key": "api-token"}}
    assert endpoint["tlsConfig"]["serverName"] == "failover"
    assert endpoint["relabelings"][0]["targetLabel"] == "cluster"
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    plain = by_kind(render({"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert plain["spec"]["endpoints"][0]["scheme"] == "http"
    assert "authorization" not in plain["spec"]["endpoints"][0]
    refused(with_tls({"serviceMonitor": {"enabled": True}, "helmTest": {"enabled": False}}),
            r"serviceMonitor: config\.api\.read_auth is true, so /metrics needs a token")


def test_helm_test_runs_failoverctl_status_against_the_release() -> None:
    objects = render(with_tls(EVERYTHING))
    [test] = [o for o in objects if o["kind"] == "Pod"]
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # not the Deployment's selector: its ReplicaSet would adopt the pod
    selector = by_kind(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert not selector.items() <= test["metadata"]["labels"].items()
    [container] = test["spec"]["containers"]
    assert container["args"] == ["status"]
    assert container["image"] == pod_spec(objects)["containers"][0]["image"]
    env = {e["name"]: e for e in container["env"]}
    assert env["FAILOVER_API_URL"]["value"] == "https://rel-failover-controller-all:8080"
    assert env["FAILOVER_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "rel-failover-controller", "key": "api-token"}
    assert env["FAILOVER_API_CACERT"]["value"] == "/run/tls/ca.crt"
    assert "FAILOVER_API_TOKEN" not in {e["name"] for e in by_kind(
        render(), "Pod")["spec"]["containers"][0]["env"]}  # reads need no token by default
    refused(with_tls({}), r"helmTest: config\.api\.read_auth is true")
    assert not [o for o in render({"helmTest": {"enabled": False}}) if o["kind"] == "Pod"]


def test_named_tokens_without_your_own_secret_are_refused() -> None:
    refused({"auth": {"namedTokens": [{"name": "oncall", "key": "oncall-token"}]}},
            r"auth\.namedTokens: needs auth\.existingSecret")


def test_notes_never_fail_on_absent_keys() -> None:
    bare = {"services": [{"name": "web", "members": [{"name": "a", "address": "a:80"}]}]}
    chart = Chart.load(CHART)
    merged = chart.merge_values({})
    merged["config"] = bare  # no redis section, no key_prefix
    assert "HASH failover:route:<service>" in notes(merged)
    assert "nothing was installed" in notes({"enabled": False})


def test_disabled_renders_nothing_and_a_parent_chart_can_carry_it(tmp_path: Path) -> None:
    assert render({"enabled": False}) == []
    parent = tmp_path / "platform"
    (parent / "charts").mkdir(parents=True)
    shutil.copytree(CHART, parent / "charts" / "failover-controller")
    (parent / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "platform", "version": "1.0.0", "dependencies": [
            {"name": "failover-controller", "version": "0.1.0",
             "condition": "failover-controller.enabled"}]}))
    (parent / "values.yaml").write_text(yaml.safe_dump({
        "global": {"imageRegistry": "mirror.example", "environment": "prod"}}))
    manifests = Chart.load(parent).render({}, name="platform", namespace="ops")
    objects = [d for p, t in manifests.items() if not p.endswith(".txt")
               for d in yaml.safe_load_all(t) if d]
    validate_all(objects)
    image = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "mirror.example/failover-controller:0.1.0"
    off = Chart.load(parent).render({"failover-controller": {"enabled": False}}, name="platform",
                                    namespace="ops")
    assert not [t for p, t in off.items() if not p.endswith(".txt") and t.strip()]


@pytest.mark.parametrize(("bad", "where"), [
    ({"podDisruptionBudget": {"maxUnavailable": "banana"}}, "/podDisruptionBudget/maxUnavailable"),
    ({"updateStrategy": {"rollingUpdate": {"maxSurge": "lots"}}},
     "/updateStrategy/rollingUpdate/maxSurge"),
    ({"updateStrategy": {"type": "BlueGreen"}}, "/updateStrategy/type"),
    ({"config": {"services": []}}, "/config/services"),
    ({"config": {"services": [{"name": "web", "members": []}]}}, "/config/services/0/members"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"zoneSpread": "sometimes"}, "/zoneSpread"),
    ({"serviceMonitor": {"scrapeTimeout": "soon"}}, "/serviceMonitor/scrapeTimeout"),
    ({"serviceMonitor": {"authorization": {"name": "x"}}}, "/serviceMonitor/authorization"),
    ({"serviceMonitor": {"bearerToken": "x"}}, "/serviceMonitor"),
    ({"podDisruptionBudget": {"unhealthyPodEvictionPolicy": "Never"}},
     "/podDisruptionBudget/unhealthyPodEvictionPolicy"),
    ({"extraVolumeMounts": [{"name": "x"}]}, "/extraVolumeMounts/0"),
    ({"enabled": "yes"}, "/enabled"),
    ({"commonLabels": {"a": 1}}, "/commonLabels/a"),
])
def test_schema_rejects_nonsense_naming_the_key(bad: dict[str, Any], where: str) -> None:
    chart = Chart.load(CHART)
    with pytest.raises(HelmError, match=where):
        chart.validate_schema(chart.merge_values(bad))


def test_the_chart_readme_is_generated_from_the_values_comments() -> None:
    readme = (CHART / "README.md").read_text()
    assert chart_readme.render(readme, (CHART / "values.yaml").read_text()) == readme, \
        "run: python -m controller.devtools.chart_readme"
    # every top-level key of values.yaml is documented there
    documented = {r.key.split(".")[0] for r in chart_readme.rows(
        (CHART / "values.yaml").read_text())}
    assert documented == set(Chart.load(CHART).values)


def test_the_readme_generator_reads_comment_blocks_and_nesting() -> None:
    text = ("# a file comment\n\n# -- Top.\n# Two lines.\ntop: 1\nsection:\n"
            "  # -- Inner | piped <x>.\n  inner: [a]\n  plain: 2\n")
    assert chart_readme.rows(text) == [
        chart_readme.Row("top", "int", "1", "Top. Two lines."),
        chart_readme.Row("section.inner", "list", '["a"]', "Inner | piped <x>.")]
    assert "| Inner \\| piped &lt;x&gt;. |" in chart_readme.table(chart_readme.rows(text))
    long = f"# -- Long.\nlong: {list(range(60))}\n"
    assert "| `long` | list | see values.yaml | Long. |" in chart_readme.table(
        chart_readme.rows(long))
    with pytest.raises(ValueError, match="markers"):
        chart_readme.render("no markers", text)


def test_helmignore_keeps_the_examples_and_drops_editor_files(tmp_path: Path) -> None:
    chart = tmp_path / "failover-controller"
    shutil.copytree(CHART, chart)
    (chart / "values.yaml.swp").write_text("x")
    names = {f["name"] for f in Chart.load(chart).files}
    assert "examples/production-values.yaml" in names
    assert "values.yaml.swp" not in names


def test_the_example_values_render_and_lint_for_the_oldest_supported_kubernetes() -> None:
    objects = render_for(EXAMPLE, "v1.25.0")
    for obj in objects:
        if obj["kind"] not in {"ServiceMonitor", "Pod"}:
            kubernetes_validate.validate(obj, "1.25.0", strict=True)
    report = lint(CHART, EXAMPLE, strict=True, kube_version="v1.25.0")
    assert not [m for m in report["messages"] if m["severity"] >= 2] and not report["errors"]
