"""The environment variables a kubelet gives a container for the Services of its namespace,
for tests without a cluster (there is no API server on the build machines)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Always injected, even with enableServiceLinks: false (the API server's own Service).
KUBERNETES_SERVICE = {
    "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
    "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
    "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
}


def _variable_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_links(name: str, cluster_ip: str,
                  ports: Iterable[tuple[str | None, int, str]]) -> dict[str, str]:
    """The docker-link variables of one Service: ``ports`` as (port name, port, protocol).

    The same names Kubernetes makes: ``<NAME>_SERVICE_HOST``, ``<NAME>_SERVICE_PORT`` (the
    first port), ``<NAME>_SERVICE_PORT_<PORT NAME>`` per named port, ``<NAME>_PORT`` (the
    first port as a URL) and ``<NAME>_PORT_<port>_<PROTO>`` with ``_PROTO``, ``_PORT`` and
    ``_ADDR`` per port; ``-`` becomes ``_``, everything upper case.
    """
    prefix = _variable_name(name)
    env = {f"{prefix}_SERVICE_HOST": cluster_ip}
    for i, (port_name, port, protocol) in enumerate(ports):
        url = f"{protocol.lower()}://{cluster_ip}:{port}"
        if i == 0:
            env[f"{prefix}_SERVICE_PORT"] = str(port)
            env[f"{prefix}_PORT"] = url
        if port_name:
            env[f"{prefix}_SERVICE_PORT_{_variable_name(port_name)}"] = str(port)
        link = f"{prefix}_PORT_{port}_{protocol.upper()}"
        env.update({link: url, f"{link}_PROTO": protocol.lower(), f"{link}_PORT": str(port),
                    f"{link}_ADDR": cluster_ip})
    return env


def links_of(service: dict[str, Any], cluster_ip: str) -> dict[str, str]:
    """The link variables of a Service object (as rendered by Helm)."""
    ports = [(p.get("name"), int(p["port"]), p.get("protocol", "TCP"))
             for p in service["spec"]["ports"]]
    return service_links(service["metadata"]["name"], cluster_ip, ports)
