"""The run record: every typed value a GameDay writes to its journal, in one module.

The journal (``reports/<run_id>/journal.json``) is :class:`JournalRecord` dumped with
``model_dump(mode="json")``; :func:`gameday.journal.read_journal` validates it back,
old runs included (:func:`_legacy` readers upgrade what earlier versions wrote: SLO
targets as text such as ``"≤ 0.8"``, a fault with every parameter of every type, a
phase's ``replica``; :mod:`gameday.journal_legacy` renames version 2's keys). The JSON
Schema published in ``docs/journal.schema.json`` is :func:`json_schema` (``python -m
gameday.run_record > docs/journal.schema.json``; a test keeps them equal).

Shape: Chaos Toolkit's journal (``status``, ``deviated``, ``start``/``end``/``duration``,
``steady_states``, ``run[]``, ``rollbacks[]``, each activity with ``start``, ``end``,
``duration``, ``status``, ``output``) plus the GameDay fields: phases with their fault,
times, metrics and checks, the verdict, observations and notifications. Numbers stay
numbers: a check's target is ``{"op": "<=", "value": 0.8}``. Times are ISO 8601 UTC.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from gameday.evidence.models import FaultEvidence, SweepResult, Verdict3
from gameday.journal_legacy import upgrade
from gameday.threshold import Number, Op, Threshold

__all__ = [
    "JOURNAL_VERSION", "ROLES", "RunStatus", "Op", "Threshold", "Check", "PhaseMetrics",
    "FaultRecord", "LoadCheck", "PhaseRecord", "FrontCounters", "FrontTally",
    "Activity", "ActivityRun", "SteadyStates", "Consistency",
    "Abort", "Interruption", "Verdict", "Observation", "NotificationRecord", "Environment",
    "Roles", "ChecklistItem", "SessionInfo", "RunProcess", "ChildRun", "JournalRecord",
    "Outcome",
    "PlannedPhase", "StartNotice", "AbortNotice", "json_schema", "FaultEvidence",
    "JudgementLine",
]

#: Version of the journal's shape this code writes (journals without one are version 1).
JOURNAL_VERSION = 3
#: The roles of a GameDay, one vocabulary for the runbook README, the session and journal.
ROLES: tuple[str, ...] = ("owner", "coordinator", "reporter", "observer")

RunStatus = Literal["running", "completed", "failed", "aborted", "interrupted"]
Time = AwareDatetime


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Check(_Record):
    """One SLO check of a phase. ``detail`` says why, when the value alone does not."""

    name: str
    target: Threshold
    value: Number | None
    passed: bool
    detail: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Version 1's abort check carried its reason as the value."""
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            data = {**data, "detail": data["value"], "value": 1}
        return data


class PhaseMetrics(_Record):
    """The figures of one phase (definitions: :mod:`gameday.metrics`). None = not measured."""

    requests: int = 0
    availability: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    quorum_rate: float | None = None
    wrong_answers: int | None = None
    ttd_s: float | None = None
    ttr_s: float | None = None
    outage_s: float | None = None
    achieved_rate: float | None = None
    #: share of the front's requests to the faulted member that got no answer within the
    #: front's timeout (``phase.front``); None without a front's counters or such a request
    front_timeout_share: float | None = None


class FrontCounters(_Record):
    """A front's own per-member counters at one moment (the system file's ``counters``: a
    voter, a load balancer; counted since it started): requests to each member that
    finished, and of those the ones that got no answer within the front's timeout
    (``timeout_s``). Keyed by member label (``group/member``)."""

    timeout_s: float | None = None
    asked: dict[str, int] = Field(default_factory=dict)
    timed_out: dict[str, int] = Field(default_factory=dict)

    def since(self, before: FrontCounters, member: str) -> FrontTally:
        """What the front counted for ``member`` between ``before`` and this moment."""
        return FrontTally(
            member=member, timeout_s=self.timeout_s,
            asked=max(0, self.asked.get(member, 0) - before.asked.get(member, 0)),
            timed_out=max(0, self.timed_out.get(member, 0) - before.timed_out.get(member, 0)))


class FrontTally(_Record):
    """The front's requests to a phase's faulted member during the phase (from just
    before the injection to the end of the phase): how many finished, and how many of
    those got no answer within the front's timeout, so that the member's answer did not
    count (in a vote, in a balanced answer). Source of the metric ``front_timeout_share``."""

    member: str
    asked: int
    timed_out: int
    timeout_s: float | None = None


class LoadCheck(_Record):
    """Whether a phase's load generator kept its schedule (:mod:`gameday.load_check`):
    requests/s sent inside the load window against those scheduled in it, the send lag
    p99, over how many shards (processes) the load was spread."""

    scheduled_rate: float
    achieved_rate: float
    send_lag_p99_ms: float
    shards: int = 1
    kept_up: bool
    reason: str | None = None


#: The parameters each fault type of version 1 journals actually used.
_LEGACY_PARAMS = {"latency": ("latency_ms",), "intermittent": ("probability",),
                  "incorrect_response": ("product_id",), "crash": ()}


class FaultRecord(_Record):
    """A fault as injected: its type, the component it hit, only its own parameters, and
    the time-to-live that was sent with it."""

    type: str
    component: str
    params: dict[str, Number | str] = Field(default_factory=dict)
    ttl_s: float | None = None

    def describe(self) -> str:
        """``latency on backend/b (latency_ms=500)``: how reports and messages name it."""
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.type} on {self.where}" + (f" ({extra})" if extra else "")

    @property
    def where(self) -> str:
        """The component it hit as runbooks name it (``backend/b``)."""
        return self.component

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Version 1: ``{type, replica, latency_ms, probability, product_id, ttl_s}``
        whatever the type (a crash carried ``latency_ms: 1000``)."""
        if not isinstance(data, dict) or "replica" not in data:
            return data
        own = _LEGACY_PARAMS.get(str(data.get("type")), ())
        return {"type": data.get("type"), "component": str(data["replica"]),
                "params": {k: data[k] for k in own if data.get(k) is not None},
                "ttl_s": data.get("ttl_s")}


class PhaseRecord(_Record):
    """One phase as it ran. ``observed_until`` closes the window its TTD/TTR are looked
    for in (see :func:`gameday.metrics.phase_metrics`)."""

    name: str
    description: str = ""
    fault: FaultRecord | None = None
    duration_s: float
    start: Time
    end: Time | None = None
    injected_at: Time | None = None
    detected_at: Time | None = None
    rolled_back_at: Time | None = None
    recovered_at: Time | None = None
    observed_until: Time | None = None
    metrics: PhaseMetrics = Field(default_factory=PhaseMetrics)
    checks: list[Check] = Field(default_factory=list)
    passed: bool = False
    aborted: str | None = None
    #: whether the load generator kept up (None: not judged, e.g. journals before it)
    load: LoadCheck | None = None
    #: With ``trials: N``: which trial this phase is, and the runbook phase it repeats.
    trial: int | None = None
    repeats: str | None = None
    #: A swept phase's run (``sweep:``): the dose of its fault, and which trial of that dose.
    dose: float | None = None
    dose_trial: int | None = None
    #: the front's requests to the faulted member during the phase (None: no counters in
    #: the system file, no fault, or the counters could not be read)
    front: FrontTally | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if isinstance(data, dict) and "replica" in data:  # version 1 repeated the fault's
            data = {k: v for k, v in data.items() if k != "replica"}
        return data


class Activity(_Record):
    name: str
    type: Literal["action", "probe"] = "action"
    phase: str | None = None


class ActivityRun(_Record):
    """One ``run[]`` / ``rollbacks[]`` entry, as Chaos Toolkit writes them."""

    activity: Activity
    start: Time
    end: Time
    duration: float
    status: Literal["succeeded", "failed"]
    output: dict[str, Any] = Field(default_factory=dict)
    exception: str | None = None


class SteadyStates(_Record):
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    during: list[dict[str, Any]] = Field(default_factory=list)


class Consistency(_Record):
    """The system's invariants after recovery: ``ok`` when every one held; each that did
    not as ``{invariant, member, detail}`` (``member``: the one it was checked on, None
    for a check of the whole system); how long the harness waited for them to hold."""

    ok: bool
    mismatches: list[dict[str, Any]] = Field(default_factory=list)
    waited_s: float | None = None


class SystemInfo(_Record):
    """The system a run drove, when a system file described it (runbook ``system``):
    its name, the file, and how its detector saw components (``transitions``,
    ``status``, or ``none``: the harness's health probes stood in)."""

    name: str
    file: str | None = None
    detector: str = "none"


class Abort(_Record):
    reason: str
    at: Time
    phase: str | None = None


class Interruption(_Record):
    """A run whose process ended without concluding (``kill -9``, a crash), as found by
    whoever took the target's lock next."""

    found_at: Time
    found_by: str
    reason: str
    phase: str | None = None
    #: follow-up requests the dead run still owed (``follow_up_after_s``), sent by recovery
    follow_ups_sent: int = 0
    follow_ups_failed: list[str] = Field(default_factory=list)
    rolled_back: dict[str, Any] = Field(default_factory=dict)


class Verdict(_Record):
    """The run's verdict. ``outcome`` is three-valued in a run with trials (pass / fail /
    inconclusive: an interval straddles its target, ``inconclusive`` says which and how
    many more trials would likely settle it); ``passed`` is ``outcome == "pass"``."""

    passed: bool
    score: float
    failing_checks: list[str] = Field(default_factory=list)
    outcome: Verdict3 | None = None
    inconclusive: list[str] = Field(default_factory=list)


class Observation(_Record):
    """What a person saw; ``kind="noticed"`` marks when someone first noticed the fault."""

    at: Time
    role: str
    phase: str | None = None
    kind: Literal["note", "noticed"] = "note"
    text: str


class NotificationRecord(_Record):
    """One notification as the journal keeps it: ``{at, channel, kind, ok, error?}``."""

    at: Time
    channel: Literal["slack-bot", "slack-webhook", "console"]
    kind: Literal["start", "phase_end", "abort", "verdict", "report_file"]
    ok: bool
    error: str | None = None

    def to_journal(self) -> dict[str, Any]:
        """The record as plain JSON (no ``error`` when it went through)."""
        return self.model_dump(mode="json", exclude_none=True)


class Environment(_Record):
    git_sha: str = "unknown"
    target: str = ""
    runbook_sha256: str | None = None
    python: str = ""
    platform: str = ""
    packages: dict[str, str | None] = Field(default_factory=dict)
    #: the checkout whose ``stack/`` ran, when not the harness's own (a comparison's side)
    stack_source: str | None = None


class Roles(_Record):
    """Who does what in a session (``ROLES``; several observers)."""

    owner: str = ""
    coordinator: str = ""
    reporter: str = ""
    observers: list[str] = Field(default_factory=list)


class ChecklistItem(_Record):
    item: str
    ok: bool
    detail: str = ""


class SessionInfo(_Record):
    roles: Roles = Field(default_factory=Roles)
    checklist: list[ChecklistItem] = Field(default_factory=list)


class RunProcess(_Record):
    """The process that ran the GameDay: how a later run tells a dead one from a live one."""

    pid: int
    host: str
    flow_run_id: str | None = None


class ChildRun(_Record):
    """One repetition of a runbook run as its own GameDay on a worker (trials spread over
    a work pool, :mod:`gameday.spread`): where it ran and how it ended."""

    repetition: int
    flow_run_id: str | None = None
    #: The Prefect state the child's flow run ended in (COMPLETED, FAILED, CRASHED, …).
    state: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    status: RunStatus | None = None
    target_key: str | None = None
    host: str | None = None
    pid: int | None = None
    start: Time | None = None
    end: Time | None = None
    error: str | None = None


class JournalRecord(_Record):
    """``journal.json``: one GameDay run.

    The keys Chaos Toolkit's own tools read are there under their names:
    ``chaoslib-version`` (the chaostoolkit-lib whose journal and experiment format this
    follows; None where it is not installed), ``platform``, ``node`` (the host that ran
    it) and ``experiment`` (the runbook rendered as an experiment,
    :mod:`gameday.experiment`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True,
                              validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    version: int = JOURNAL_VERSION
    chaoslib_version: str | None = Field(None, alias="chaoslib-version")
    platform: str = ""
    node: str = ""
    status: RunStatus = "running"
    deviated: bool = False
    start: Time
    end: Time | None = None
    duration: float | None = None
    run_id: str
    seed: int | None = None
    target: str = "local"
    target_key: str | None = None
    runbook: dict[str, Any] = Field(default_factory=dict)
    experiment: dict[str, Any] = Field(default_factory=dict)
    runbook_path: str | None = None
    runbook_sha256: str | None = None
    environment: Environment = Field(default_factory=Environment)
    process: RunProcess | None = None
    steady_states: SteadyStates = Field(default_factory=SteadyStates)
    run: list[ActivityRun] = Field(default_factory=list)
    rollbacks: list[ActivityRun] = Field(default_factory=list)
    phases: list[PhaseRecord] = Field(default_factory=list)
    consistency: Consistency | None = None
    abort: Abort | None = None
    interruption: Interruption | None = None
    error: str | None = None
    report_error: str | None = None
    #: The load oracle's values at the start (``{"oracle": {key: value}}``), when the
    #: system file's load has one: what wrong answers are judged against.
    oracle_before: dict[str, Any] | None = None
    #: None only in journals written before systems were described by files.
    system: SystemInfo | None = None
    verdict: Verdict | None = None
    #: With ``trials: N``: every trial of each fault type, judged with intervals.
    evidence: list[FaultEvidence] = Field(default_factory=list)
    #: Every swept phase (``sweep:``): each dose judged, and the breaking point.
    sweeps: list[SweepResult] = Field(default_factory=list)
    #: Trials spread over workers: each repetition's own run (its phases are in ``phases``).
    children: list[ChildRun] = Field(default_factory=list)
    session: SessionInfo | None = None
    observations: list[Observation] = Field(default_factory=list)
    notifications: list[NotificationRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Journals written before the Chaos Toolkit keys: ``platform`` and ``node`` from
        the environment fingerprint and the process record they already held; version 2's
        keys renamed (:func:`gameday.journal_legacy.upgrade`)."""
        if not isinstance(data, dict):
            return data
        data = upgrade(data)
        if not data.get("platform"):
            data["platform"] = _field(data.get("environment"), "platform")
        if not data.get("node"):
            data["node"] = _field(data.get("process"), "host")
        return data

    def planned_phases(self) -> list[str]:
        """The runbook's phase names, in order."""
        return [str(p.get("name")) for p in self.runbook.get("phases") or []
                if isinstance(p, dict)]

    def phase_in_progress(self) -> str | None:
        """The phase whose activities began but which has no phase record: where a run
        that never concluded stopped."""
        done = {p.name for p in self.phases}
        for entry in reversed(self.run):
            phase = entry.activity.phase
            if phase and phase not in done:
                return phase
        return None

    def missing(self) -> list[str]:
        """What this journal does not hold, as sentences (empty for a finished run)."""
        out: list[str] = []
        current = None
        if self.status in ("running", "interrupted"):
            how = (f"interrupted ({self.interruption.reason})" if self.interruption
                   else "still marked running: its process may have died")
            out.append(f"the run did not finish: {how}")
            current = self.phase_in_progress()
        recorded = {p.name.split("-rerun")[0] for p in self.phases}
        recorded.update(p.repeats for p in self.phases if p.repeats)  # a search's doses
        for name in self.planned_phases():
            if name in recorded:
                continue
            if name == current:
                out.append(f"phase {name}: interrupted while it ran; its requests and "
                           "metrics were not recorded")
            else:
                out.append(f"phase {name}: not run")
        if self.verdict is None:
            out.append("no verdict (the run never concluded)")
        if self.consistency is None and self.status != "failed":
            out.append("no check of the system's invariants"
                       + (f" ({self.system.name})" if self.system is not None else ""))
        if self.steady_states.after is None and self.status != "failed":
            out.append("no steady-state check after the run")
        return out


def _field(record: Any, name: str) -> str:
    """``record.name`` of a model or a dict, "" when absent."""
    value = record.get(name) if isinstance(record, dict) else getattr(record, name, None)
    return str(value or "")


class JudgementLine(_Record):
    """One judgement of a run with trials, as people read it (Slack, the CLI)."""

    verdict: Verdict3
    text: str


class Outcome(_Record):
    """What a finished run says to its caller (the CLI, a Prefect state, the session)."""

    run_id: str
    name: str
    status: RunStatus
    passed: bool
    score: float
    failing_checks: list[str] = Field(default_factory=list)
    #: Three-valued in a run with trials (None: a single trial, ``passed`` says it all).
    outcome: Verdict3 | None = None
    inconclusive: list[str] = Field(default_factory=list)
    #: With trials: every judgement (per fault type and check) with its verdict.
    judgements: list[JudgementLine] = Field(default_factory=list)
    duration_s: float | None = None
    run_dir: str
    journal: str
    report: str | None = None
    #: Where people open the report (GAMEDAY_REPORT_URL + its path), when served.
    report_url: str | None = None
    #: The same for the journal.
    journal_url: str | None = None
    report_error: str | None = None


class PlannedPhase(_Record):
    name: str
    fault: str | None = None


class StartNotice(_Record):
    """What the start message says."""

    run_id: str
    name: str
    description: str = ""
    target: str
    seed: int | None = None
    phases: list[PlannedPhase] = Field(default_factory=list)
    started_by: str


class AbortNotice(_Record):
    """What the abort alert says; ``rolled_back`` as :func:`engine.rollback_everything`
    returned it (``{"restarted": [...], "cleared": {...}}``)."""

    run_id: str
    reason: str
    phase: str | None = None
    at: Time | None = None
    rolled_back: dict[str, Any] = Field(default_factory=dict)


def json_schema() -> str:
    """The JSON Schema of ``journal.json`` as published in docs/journal.schema.json."""
    schema = JournalRecord.model_json_schema(mode="serialization")
    schema["$id"] = "https://gameday.invalid/journal.schema.json"
    schema["title"] = "GameDay journal (journal.json)"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(json_schema(), end="")
