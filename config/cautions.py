"""What a config allows but an operator should hear of before production: said by
``check-config`` on stderr and by the daemon at startup, never refused (a sandbox needs
none of it)."""

from __future__ import annotations

import ipaddress

from config.models import Config
from config.shapes import split_host_port


def cautions(config: Config) -> list[str]:
    hosts = [h.strip() for h in config.zookeeper.hosts.split("/", 1)[0].split(",")]
    remote = [h for h in hosts if not _loopback(split_host_port(h)[0])]
    if config.zookeeper.username is None and remote:
        # Without digest auth the nodes get ZooKeeper's open ACL: anyone who reaches the
        # ensemble can rewrite decisions, add views that vote, or pause a service.
        return [f"zookeeper: no username: every node this controller writes is writable by "
                f"anyone who can reach {', '.join(remote)} (decisions, views, requests); set "
                "zookeeper.username and zookeeper.password_file (digest auth)"]
    return []


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
