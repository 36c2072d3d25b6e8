"""What Point-Tron reports when the node's chain and ours disagree (see ingest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ChainIssue", "IssueState"]

IssueState = Literal["behind", "fork", "fork_too_deep"]


@dataclass(frozen=True)
class ChainIssue:
    """Why the node's chain and ours disagree. `gap`: blocks the node is behind us (behind),
    or blocks rolled back (fork), or the blocks compared without a match (fork_too_deep)."""

    state: IssueState
    reason: str
    stored_height: int
    node_height: int
    gap: int
    since: float  # wall clock (epoch seconds)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "storedHeight": self.stored_height,
            "nodeHeight": self.node_height,
            "gap": self.gap,
            "since": round(self.since * 1000),
        }
