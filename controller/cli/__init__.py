"""failoverctl: the one entry point (daemon, config check, operator commands,
agents, demo)."""

from controller.cli.main import main

__all__ = ["main"]
