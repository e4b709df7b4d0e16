"""Probes: kinds that check a target, the per-member scheduler, and the pure health assessor."""
