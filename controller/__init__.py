"""Failover controller: the leader-elected daemon that moves traffic off a failed primary."""

__version__ = "0.1.0"
