"""A short digest of the config that decides, so that replicas running different configs
can be told apart (a metric, status). Pure.

What decides is the cluster, the services (members, policies, hooks, checks) and where the
state lives (ZooKeeper root, Redis key prefix). Left out: what may differ between replicas
of one cluster by design (node id, API listen address and tokens, store addresses and
credentials, log level). Fields typed as secrets enter it masked, so that a scrape of the
digest cannot be used to test guesses of a token; a secret written into a plain field (a
hook header, say) is only one input among thousands of bytes, cut to 48 bits.
"""

from __future__ import annotations

import hashlib
import json

from config.models import Config, ServiceConfig


def config_digest(config: Config) -> str:
    """sha256 of the normalised deciding config (sorted keys, compact JSON), first 12 hex."""
    deciding = {
        "cluster": config.cluster,
        "zookeeper_root": config.zookeeper.root,
        "key_prefix": config.redis.key_prefix,
        # mode="json": secrets are dumped masked, never their values
        "services": [s.model_dump(mode="json") for s in config.services],
    }
    text = json.dumps(deciding, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def service_digest(service: ServiceConfig) -> str:
    """The same for one service: published in each replica's view, so that a leader acts
    only on the config of a service that most live replicas run."""
    text = json.dumps(service.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
