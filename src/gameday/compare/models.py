"""What a comparison records (``reports/compare-<id>/compare.json``), as typed models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gameday.evidence.comparison import CompareCell

__all__ = ["CompareSide", "CompareRun", "CompareResult", "COMPARE_FILE", "PAGE_FILE"]

COMPARE_FILE = "compare.json"
PAGE_FILE = "index.html"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompareSide(_Model):
    """One build: what was given (``spec``), the checkout that ran, its git ref and sha
    when it was one, and the local stack's base port (None: spread over a work pool's
    workers, each run on its worker's stack)."""

    name: Literal["a", "b"]
    spec: str
    label: str
    path: str
    ref: str | None = None
    sha: str | None = None
    base_port: int | None


class CompareRun(_Model):
    """One GameDay of the comparison, in the order run."""

    order: int
    side: Literal["a", "b"]
    seed: int
    run_id: str | None = None
    run_dir: str | None = None
    status: str
    passed: bool | None = None
    score: float | None = None
    duration_s: float | None = None
    error: str | None = None
    #: The stack that ran it (``local:<base port>``), and its flow run when spread.
    target_key: str | None = None
    flow_run_id: str | None = None


class CompareResult(_Model):
    """A whole comparison: both sides, every run, every cell; ``regressions``: the cells
    where B is worse than A with evidence (the command exits non-zero when any)."""

    compare_id: str
    runbook: str
    runbook_path: str
    trials: int
    seed: int
    fdr: float
    start: str
    end: str | None = None
    a: CompareSide
    b: CompareSide
    order: list[Literal["a", "b"]] = Field(default_factory=list)
    runs: list[CompareRun] = Field(default_factory=list)
    cells: list[CompareCell] = Field(default_factory=list)
    #: The deployment whose work pool ran the GameDays (``--spread-over``), else None.
    spread_over: str | None = None
    #: The machine's 1-minute load average at the start and the end (timings depend on it).
    load_average: list[float] = Field(default_factory=list)

    @property
    def regressions(self) -> list[CompareCell]:
        return [c for c in self.cells if c.verdict == "regression"]

    @property
    def improvements(self) -> list[CompareCell]:
        return [c for c in self.cells if c.verdict == "improvement"]
