"""What a failover or a switchover did, step by step: one type for both, as history, the
CLI, the demo and the logs show it; and the two hooks the leader runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any


class Hook(StrEnum):
    FENCE = "fence"
    PROMOTE = "promote"


@dataclass(frozen=True, slots=True)
class Step:
    """One step. ``step`` names it: for a failover verify_epoch, fence, write_ahead,
    promote, skip, commit or publish; for a switchover the phase it ran in (fencing,
    waiting, promoting, committing, verifying, rollback_...)."""

    step: str
    member: str | None = None
    ok: bool | None = None
    ms: float | None = None  # None while it runs (a switchover's commit, until saved)
    detail: str | None = None
    epoch: int | None = None
    at: float | None = None  # unix seconds it ended (switchover steps)

    def timed(self, ms: float | None, detail: str | None = None) -> Step:
        return replace(self, ms=ms, detail=self.detail if detail is None else detail)

    def as_dict(self) -> dict[str, Any]:
        """As JSON: the fields that are set."""
        return {f.name: value for f in fields(self)
                if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """From JSON (history, a stored request, an API answer); unknown keys ignored.
        Raises ValueError if it is not a step."""
        name = data.get("step")
        if not isinstance(name, str):
            raise ValueError(f"not a step: {dict(data)!r:.120}")
        known = {f.name for f in fields(cls)} - {"step"}
        return cls(step=name, **{k: v for k, v in data.items() if k in known})


def passes_failed_fence(still_answers: bool, forced: bool = False) -> bool:
    """A fence that failed leaves the member able to act as primary. Go on past it (the
    member marked unfenced: never promoted, and fenced as soon as it answers again) only
    when it does not answer, or when the operator forced it; a member that still answers
    may still take writes, so whatever was to make another primary stops there."""
    return forced or not still_answers


def as_dicts(steps: tuple[Step, ...] | list[Step]) -> list[dict[str, Any]]:
    return [s.as_dict() for s in steps]
