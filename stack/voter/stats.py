"""Running voting statistics (since the voter started), served by ``/voting-stats``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["VotingStats"]


@dataclass
class VotingStats:
    total_requests: int = 0
    quorum_achieved: int = 0
    quorum_failed: int = 0
    not_found: int = 0
    retries: int = 0
    lag_retries: int = 0  # re-asks of the replicas behind only (by applied offset)
    #: answers that differed from the majority's while holding other events: not outliers
    lag_disagreements: int = 0
    outliers_detected: int = 0
    failed_responses: int = 0
    late_findings: int = 0
    total_time_ms: float = 0.0
    outliers_by_instance: Counter[str] = field(default_factory=Counter)
    failures_by_instance: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # OFF and not asked, per replica
    #: requests to each replica that finished (answered, failed or timed out; in the vote
    #: or after it, as a late reply), and of those the ones that got no answer within the
    #: voter's timeout: a replica's answer counts in no vote once it comes later than that
    asked_by_instance: Counter[str] = field(default_factory=Counter)
    timeouts_by_instance: Counter[str] = field(default_factory=Counter)

    def record(
        self,
        *,
        quorum: bool,
        outliers: list[str],
        failed: list[str],
        total_ms: float,
        not_found: bool,
    ) -> None:
        self.total_requests += 1
        self.quorum_achieved += quorum
        self.quorum_failed += not quorum
        self.not_found += not_found
        self.outliers_detected += len(outliers)
        self.failed_responses += len(failed)
        self.total_time_ms += total_ms
        self.outliers_by_instance.update(outliers)
        self.failures_by_instance.update(failed)

    def record_reply(self, instance_id: str, failure: str | None) -> None:
        """One request to replica ``instance_id`` finished (``failure``: None, "timeout",
        "error")."""
        self.asked_by_instance[instance_id] += 1
        if failure == "timeout":
            self.timeouts_by_instance[instance_id] += 1

    def to_json(self) -> dict[str, Any]:
        n = self.total_requests
        return {
            "total_requests": n,
            "quorum_achieved": self.quorum_achieved,
            "quorum_failed": self.quorum_failed,
            "quorum_rate": self.quorum_achieved / n if n else None,
            "not_found": self.not_found,
            "retries": self.retries,
            "lag_retries": self.lag_retries,
            "lag_disagreements": self.lag_disagreements,
            "skipped_by_instance": dict(self.skipped),
            "outliers_detected": self.outliers_detected,
            "outliers_by_instance": dict(self.outliers_by_instance),
            "failed_responses": self.failed_responses,
            "failures_by_instance": dict(self.failures_by_instance),
            "late_findings": self.late_findings,
            "asked_by_instance": dict(self.asked_by_instance),
            "timeouts_by_instance": dict(self.timeouts_by_instance),
            "avg_response_time_ms": self.total_time_ms / n if n else None,
        }
