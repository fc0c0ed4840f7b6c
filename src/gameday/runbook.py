"""Runbooks: a GameDay as validated data.

A runbook is a YAML file validated into :class:`Runbook`. Every model forbids unknown
fields. :func:`load_runbook` turns every problem (missing file, YAML syntax, wrong type,
out-of-range value, unknown field, duplicate phase name, blast radius) into one
:class:`~gameday.errors.RunbookError` whose message names the file, the field path and what
is allowed, one line per problem::

    runbooks/x.yaml: phases[2].fault.latency_ms: must be ≥ 0 (got -5)

Recovery defaults depend on the fault: a ``crash`` is rolled back by ``restart``, every
other fault by ``clear``; a phase without a fault needs no recovery (``none``).

**A fault's time-to-live** (the ``ttl_s`` sent with it; the fault clears itself after it
whatever happens to the harness) is, most specific first: the fault's own ``ttl_s``, the
runbook's ``safety.fault_ttl_s``, the environment's ``GAMEDAY_FAULT_TTL_S``, and
:data:`DEFAULT_FAULT_TTL_S`. It must cover the phase plus ``safety.rollback_margin_s``,
or the measurement would run on a fault that is already gone: :func:`load_runbook`
refuses such a runbook, naming the field to raise.

**Trials** (``trials: N``, default 1): the block from the first to the last phase with a
fault is run N times, between the phases before it (the baseline) and after it, each
repeat named ``<phase>-t<k>`` and carrying ``trial`` k and ``repeats`` (the runbook's
phase name). ``trial_order: shuffled`` shuffles each trial's order with the runbook seed;
``rotate_targets`` (default true) moves each fault to the next member of its group every
trial, so that no member's quirks make all the figures. :func:`load_runbook` returns the runbook so
expanded (:func:`expand_trials`); a single trial is left exactly as written.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gameday.errors import RunbookError
from gameday.runbook_errors import message, read_yaml
from gameday.sweep import Sweep, default_target, expand_sweeps

__all__ = [
    "DEFAULT_FAULT_TTL_S",
    "Fault",
    "Recovery",
    "Phase",
    "LoadSpec",
    "SloSpec",
    "SafetySpec",
    "Runbook",
    "load_runbook",
    "parse_runbook",
    "runbook_sha256",
    "plan",
    "max_concurrent_faults",
    "ttl_problems",
    "expand_trials",
    "MAX_TRIALS",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
#: The most trials a runbook may ask for (each repeats every fault phase).
MAX_TRIALS = 200
#: Time-to-live of a fault when neither the runbook nor GAMEDAY_FAULT_TTL_S names one.
DEFAULT_FAULT_TTL_S = 60.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _refuse_older_fields(data: Any, replaced: dict[str, str]) -> Any:
    """Refuse the fields of the older runbook form (before systems were data), saying
    what replaced each: an unknown-field error alone would not."""
    if isinstance(data, dict):
        for name, instead in replaced.items():
            if name in data:
                raise ValueError(f"{name}: a field of the older runbook form; {instead} "
                                 "(docs/systems.md)")
    return data


class Fault(_Model):
    """One fault on one component.

    ``type`` names a fault of the runbook's system (its ``faults``), ``target`` the
    component it hits (``group/member``) and ``params`` that fault's parameters
    (``{type: latency, target: backend/b, params: {latency_ms: 500}}``).
    """

    type: str = Field(min_length=1, pattern=NAME_PATTERN)
    #: ``group/member`` (``backend/b``).
    target: str = Field(pattern=TARGET_PATTERN)
    #: Parameters of the system's fault (its ``faults.<type>.params`` say which and their
    #: defaults).
    params_: dict[str, float | int | str | bool] = Field(default_factory=dict, alias="params")
    #: Time-to-live sent with the fault; None → ``safety.fault_ttl_s`` (module docstring).
    ttl_s: Annotated[float | None, Field(gt=0)] = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _older_form(cls, data: Any) -> Any:
        params = "give the fault's parameters in params ({params: {%s: …}})"
        replica = data.get("replica", "2") if isinstance(data, dict) else "2"
        return _refuse_older_fields(data, {
            "replica": "name the component as target: <group>/<member> "
                       f"(replica {replica} of the project's stack: target: "
                       f"inventory/{replica})",
            **{name: params % name for name in ("latency_ms", "probability", "product_id")}})

    @property
    def component(self) -> str:
        """``group/member``."""
        return self.target

    @property
    def group(self) -> str:
        return self.target.split("/", 1)[0]

    @property
    def member(self) -> str:
        return self.target.split("/", 1)[1]

    @property
    def where(self) -> str:
        """How messages name the component: ``backend/b``."""
        return self.target

    def params(self) -> dict[str, Any]:
        """The parameters the runbook gave the fault (the system's defaults are filled in
        by its driver)."""
        return dict(self.params_)

    def with_param(self, name: str, value: float) -> Fault:
        """This fault with parameter ``name`` set (a sweep's dose)."""
        return self.model_copy(update={"params_": {**self.params_, name: value}})

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.type} on {self.where}" + (f" ({extra})" if extra else "")


class Recovery(_Model):
    """How a phase's fault is rolled back, and how long to wait for the component to be ON."""

    action: Literal["clear", "restart", "none"] = "clear"
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class Phase(_Model):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    fault: Fault | None = None
    duration_s: float = Field(gt=0, le=3600)
    recovery: Recovery = Field(default_factory=lambda: Recovery())
    #: Runs the fault at several doses, or searches its breaking point (:mod:`gameday.sweep`).
    sweep: Sweep | None = None
    #: Set by :func:`expand_trials` on a repeated phase: which trial, of which phase.
    trial: Annotated[int | None, Field(ge=1)] = None
    repeats: str | None = None
    #: Set on a swept phase's runs (:mod:`gameday.sweep`): the dose, and which trial of it.
    dose: float | None = None
    dose_trial: Annotated[int | None, Field(ge=1)] = None
    #: Fields a runbook file may not set (refused as unknown by :func:`parse_runbook`).
    INTERNAL_FIELDS: ClassVar[tuple[str, ...]] = ("trial", "repeats", "dose", "dose_trial")

    @model_validator(mode="before")
    @classmethod
    def _default_recovery(cls, data: Any) -> Any:
        if isinstance(data, dict) and "recovery" not in data:
            fault = data.get("fault")
            ftype = fault.get("type") if isinstance(fault, dict) else None
            action = "none" if fault is None else ("restart" if ftype == "crash" else "clear")
            data = {**data, "recovery": {"action": action}}
        return data

    @model_validator(mode="after")
    def _crash_needs_restart(self) -> Phase:
        crash = self.fault is not None and self.fault.type == "crash"
        if crash and self.recovery.action == "clear":
            raise ValueError(
                "recovery.action: a crash fault is rolled back by 'restart' or 'none' (got 'clear')"
            )
        return self


class LoadSpec(_Model):
    """Open-loop client load of the system's requests (its file's ``load``): ``rate``
    requests/s, and how this GameDay adjusts the file's mix."""

    rate: float = Field(gt=0, le=5000)
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: "uniform": every 1/rate s; "poisson": exponential gaps drawn from the runbook seed.
    arrival: Literal["uniform", "poisson"] = "uniform"
    #: Weight of each request of the system's load (``load.requests``); a request not
    #: named keeps its file's weight, 0 leaves it out.
    mix: dict[str, Annotated[float, Field(ge=0)]] | None = None
    #: Lists replacing the system's ``load.values`` of the same name (``product: [A]``).
    values: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = None
    #: Per request: when its first follow-up goes, in seconds after the request's answer
    #: (later follow-ups keep their spacing).
    follow_up_after_s: dict[str, Annotated[float, Field(ge=0, le=3600)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_form(cls, data: Any) -> Any:
        return _refuse_older_fields(data, {
            "read_ratio": "weigh the system's requests with mix ({mix: {read: 8, write: 2}})",
            "products": "give the values drawn with values ({values: {product: [...]}})",
            "cancel_after_s": "say when a request's follow-up goes with follow_up_after_s "
                              "({follow_up_after_s: {write: 1.0}})"})


#: Load fields that adjust a system file's mix.
ADJUSTMENTS = ("mix", "values", "follow_up_after_s")


class SloSpec(_Model):
    """Service-level targets checked per phase (see :func:`gameday.metrics.evaluate`)."""

    availability: Annotated[float, Field(ge=0, le=1)] = 0.999
    #: p95 of a fault phase ≤ ratio × baseline p95 (or ≤ latency_p95_min_ms, the larger).
    latency_p95_ratio: Annotated[float, Field(gt=0)] = 1.5
    #: Absolute floor of the p95 target, for baselines of a few ms where noise dominates.
    latency_p95_min_ms: Annotated[float, Field(ge=0)] = 0.0
    latency_p99_ms: Annotated[float | None, Field(gt=0)] = None
    #: Per fault type (a system's fault name), the TTD target; a type without one has no
    #: TTD check (its TTD is still measured and reported).
    ttd_s: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    ttr_s: Annotated[float, Field(gt=0)] = 5.0
    #: With trials: the share of injections to detect, judged on its Wilson interval (a
    #: target of 1.0 could only ever fail or stay inconclusive: no finite run proves it).
    detection_rate: Annotated[float, Field(gt=0, le=1)] = 0.9
    quorum_rate: Annotated[float, Field(ge=0, le=1)] = 0.99
    wrong_answers: Annotated[int, Field(ge=0)] = 0


class SafetySpec(_Model):
    #: The most components of one group faulted at once (default 1: a quorum of three
    #: survives, a balancer keeps all but one backend).
    max_faulted_per_group: Annotated[int, Field(ge=0, le=64)] = 1
    abort_availability_floor: Annotated[float, Field(ge=0, le=1)] = 0.9
    abort_window_s: Annotated[float, Field(gt=0)] = 5.0
    #: Requests the window must hold before the floor can abort (one early failure can't).
    abort_min_samples: Annotated[int, Field(ge=1)] = 20
    #: TTL of every fault without its own; None → GAMEDAY_FAULT_TTL_S, else the default.
    fault_ttl_s: Annotated[float | None, Field(gt=0)] = None
    #: How long after its phase a fault must still be in force: time to roll it back.
    rollback_margin_s: Annotated[float, Field(ge=0, le=600)] = 5.0

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _refuse_older_fields(data, {
            "max_faulted_replicas": "it is max_faulted_per_group now"})


class Runbook(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    target: Literal["local", "compose"] = "local"
    seed: int = 0
    #: The system file this GameDay runs against (``systems/lb.yaml``: relative to the
    #: runbook's folder, else the working directory, else the repository).
    system: str = Field(min_length=1, max_length=1000)
    load: LoadSpec
    slo: SloSpec = Field(default_factory=lambda: SloSpec())
    safety: SafetySpec = Field(default_factory=lambda: SafetySpec())
    phases: list[Phase] = Field(min_length=1)
    #: Times the fault phases are run (see the module docstring).
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS)] = 1
    trial_order: Literal["fixed", "shuffled"] = "fixed"
    rotate_targets: bool = True

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _refuse_older_fields(data, {"rotate_replicas": "it is rotate_targets now"})

    @model_validator(mode="before")
    @classmethod
    def _needs_system(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system" not in data:
            raise ValueError("system: is required: the system file this GameDay runs "
                             "against (system: systems/inventory.yaml for the project's own "
                             "stack; docs/systems.md describes the format)")
        return data

    @model_validator(mode="after")
    def _check_phases(self) -> Runbook:
        seen: dict[str, int] = {}
        for i, ph in enumerate(self.phases):
            if ph.name in seen:
                raise ValueError(
                    f"phases[{i}].name: phase names must be unique ('{ph.name}' is also "
                    f"phases[{seen[ph.name]}])"
                )
            seen[ph.name] = i
        # the swept parameter is checked against the system's file (runbook_system)
        for i, ph in enumerate(self.phases):
            if ph.sweep is not None and ph.fault is None:
                raise ValueError(f"phases[{i}].sweep: doses the phase's fault; this "
                                 "phase has no fault")
        worst, at, group = max_concurrent_faults(self.phases)
        if worst > self.safety.max_faulted_per_group:
            raise ValueError(
                f"phases[{at}].fault: {worst} components of group {group!r} would be "
                "faulted at once, "
                f"safety.max_faulted_per_group allows {self.safety.max_faulted_per_group} "
                "(roll back the earlier fault with recovery.action 'clear' or 'restart')"
            )
        problems = ttl_problems(self, None)
        if problems:
            raise ValueError(problems[0])
        swept = [i for i, p in enumerate(self.phases) if p.sweep is not None]
        for i in swept:
            sw, fault = self.phases[i].sweep, self.phases[i].fault
            if sw is not None and fault is not None and sw.target is None:
                try:
                    default_target(sw.metric, self.slo, fault.type)
                except ValueError as exc:
                    raise ValueError(f"phases[{i}].{exc}") from None
        if swept and self.trials > 1 and not any(p.trial for p in self.phases):
            raise ValueError(f"phases[{swept[0]}].sweep: a runbook with trials cannot also "
                             "sweep (give the sweep its own sweep.trials)")
        return self

    def fault_ttl(self, fault: Fault, default_ttl_s: float = DEFAULT_FAULT_TTL_S) -> float:
        """The ttl_s sent with ``fault``: its own, else ``safety.fault_ttl_s``, else
        ``default_ttl_s`` (the settings' GAMEDAY_FAULT_TTL_S, whose default is
        :data:`DEFAULT_FAULT_TTL_S`)."""
        for ttl in (fault.ttl_s, self.safety.fault_ttl_s):
            if ttl is not None:
                return ttl
        return default_ttl_s


def ttl_problems(runbook: Runbook, default_ttl_s: float | None) -> list[str]:
    """Faults whose time-to-live ends before their phase plus the rollback margin, as
    ``field: why`` lines. ``default_ttl_s`` None checks only the TTLs the runbook names."""
    out = []
    margin = runbook.safety.rollback_margin_s
    for i, ph in enumerate(runbook.phases):
        if ph.fault is None:
            continue
        if ph.fault.ttl_s is not None:
            field, ttl, where = f"phases[{i}].fault.ttl_s", ph.fault.ttl_s, "it has"
        elif runbook.safety.fault_ttl_s is not None:
            field, ttl, where = "safety.fault_ttl_s", runbook.safety.fault_ttl_s, "it has"
        elif default_ttl_s is not None:
            field, ttl = f"phases[{i}].fault.ttl_s", default_ttl_s
            where = "GAMEDAY_FAULT_TTL_S (or the built-in default) gives"
        else:
            continue
        need = ph.duration_s + margin
        if ttl < need:
            out.append(
                f"{field}: the fault of phase {ph.name!r} would clear itself before the "
                f"phase ends: {where} a time-to-live of {ttl:g} s, shorter than duration_s "
                f"{ph.duration_s:g} s + safety.rollback_margin_s {margin:g} s; set "
                f"phases[{i}].fault.ttl_s or safety.fault_ttl_s to at least {need:g}")
    return out


def expand_trials(runbook: Runbook, members: dict[str, list[str]] | None = None) -> Runbook:
    """The runbook with its fault phases repeated ``trials`` times (module docstring).

    ``members`` (group → its members, from the runbook's system) is what a fault on a
    ``target`` rotates through. A runbook with
    one trial, no fault phase, or already expanded comes back unchanged.
    """
    faulted = [i for i, p in enumerate(runbook.phases) if p.fault is not None]
    if runbook.trials == 1 or not faulted or any(p.trial for p in runbook.phases):
        return runbook
    first, last = faulted[0], faulted[-1]
    block = runbook.phases[first:last + 1]
    phases = list(runbook.phases[:first])
    for k in range(1, runbook.trials + 1):
        order = list(block)
        if runbook.trial_order == "shuffled":
            random.Random(f"{runbook.seed}:{k}").shuffle(order)
        for ph in order:
            update: dict[str, Any] = {"name": f"{ph.name}-t{k}", "trial": k, "repeats": ph.name}
            if ph.fault is not None and runbook.rotate_targets:
                update["fault"] = _rotated(ph.fault, k, members or {})
            phases.append(ph.model_copy(update=update))
    phases += runbook.phases[last + 1:]
    return runbook.model_copy(update={"phases": phases})


def _rotated(fault: Fault, k: int, members: dict[str, list[str]]) -> Fault:
    """``fault`` moved ``k - 1`` members on within its group (trial ``k``)."""
    group = members.get(fault.group) or [fault.member]
    at = (group.index(fault.member) + k - 1) % len(group) if fault.member in group else 0
    return fault.model_copy(update={"target": f"{fault.group}/{group[at]}"})


def max_concurrent_faults(phases: list[Phase]) -> tuple[int, int, str]:
    """Most components of one group faulted at once over the phase sequence (the blast
    radius), the phase index where, and the group.

    A fault whose phase has recovery ``none`` stays in force through later phases (a
    conservative reading: its TTL may end it sooner).
    """
    faulted: set[str] = set()
    worst, at, where = 0, 0, ""
    for i, ph in enumerate(phases):
        if ph.fault is not None:
            faulted.add(ph.fault.component)
            group = ph.fault.group
            count = sum(1 for c in faulted if c.split("/", 1)[0] == group)
            if count > worst:
                worst, at, where = count, i, group
            if ph.recovery.action != "none":
                faulted.discard(ph.fault.component)
    return worst, at, where


def parse_runbook(data: Any, source: str = "<runbook>", base_dir: Path | None = None
                  ) -> Runbook:
    """Validate already-parsed YAML data; with a ``system``, check it against that system
    file (found from ``base_dir``, the runbook's folder: :mod:`gameday.runbook_system`).
    Raises RunbookError naming ``source``."""
    if not isinstance(data, dict):
        raise RunbookError(f"{source}: the runbook must be a mapping (got {type(data).__name__})")
    phases = data.get("phases")
    for i, ph in enumerate(phases if isinstance(phases, list) else []):
        for name in Phase.INTERNAL_FIELDS:
            if isinstance(ph, dict) and name in ph:
                allowed = ", ".join(f for f in Phase.model_fields if f not in Phase.INTERNAL_FIELDS)
                raise RunbookError(f"{source}: phases[{i}].{name}: unknown field; allowed: "
                                   f"{allowed} (trials are set with the runbook's 'trials')")
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {message(e, Runbook)}" for e in exc.errors(include_url=False)]  # type: ignore[arg-type]
        raise RunbookError("\n".join(lines)) from None
    from gameday.runbook_system import bind_system

    bind_system(runbook, source, base_dir, data=data)
    return runbook


def load_runbook(path: str | Path, *, default_fault_ttl_s: float = DEFAULT_FAULT_TTL_S
                 ) -> Runbook:
    """Read and validate a runbook file; ``default_fault_ttl_s`` is the TTL its faults get
    when it names none (pass ``settings.fault_ttl_s``), checked against each phase.

    Raises RunbookError (file missing or unreadable, YAML syntax, validation) whose
    message starts with the path as given.
    """
    source = str(path)
    data = read_yaml(path, "runbook", RunbookError)
    runbook = parse_runbook(data, source, Path(path).parent)
    problems = ttl_problems(runbook, default_fault_ttl_s)
    if problems:
        raise RunbookError("\n".join(f"{source}: {p}" for p in problems))
    from gameday.runbook_system import bind_system

    members = bind_system(runbook, source, Path(path).parent).groups()
    return expand_sweeps(expand_trials(runbook, members), members)


def runbook_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the runbook file's bytes (the journal records it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan(runbook: Runbook, default_fault_ttl_s: float = DEFAULT_FAULT_TTL_S) -> str:
    """A human-readable plan of what the GameDay will do (for ``--dry-run``); every TTL
    shown is the one that will be sent."""
    ld, slo, sf = runbook.load, runbook.slo, runbook.safety
    total = sum(p.duration_s for p in runbook.phases)
    adjusted = [f"{name} " + ", ".join(
                    f"{k} {', '.join(map(str, v)) if isinstance(v, list) else f'{v:g}'}"
                    for k, v in got.items())
                for name in ADJUSTMENTS if (got := getattr(ld, name))]
    load_line = (f"Load: {ld.rate:g} req/s open-loop ({ld.arrival}), system "
                 f"{runbook.system}'s own request mix"
                 + (f" adjusted ({'; '.join(adjusted)})" if adjusted else "")
                 + f"; timeout {ld.timeout_s:g} s")
    used = dict.fromkeys(p.fault.type for p in runbook.phases if p.fault)
    slo_line = (f"SLO: availability ≥ {slo.availability:.3%}, p95 ≤ "
                f"{slo.latency_p95_ratio:g}× baseline, TTR ≤ {slo.ttr_s:g} s, TTD "
                + (", ".join(f"{k} ≤ {slo.ttd_s[k]:g} s" for k in used if k in slo.ttd_s)
                   or "not checked"))
    lines = [
        f"GameDay '{runbook.name}' on target {runbook.target} (seed {runbook.seed})"
        + (f", {runbook.trials} trials ({runbook.trial_order} order"
           f"{', targets rotated' if runbook.rotate_targets else ''})"
           if runbook.trials > 1 else ""),
        *( [f"  {runbook.description.strip()}"] if runbook.description.strip() else [] ),
        load_line,
        slo_line,
        f"Safety: ≤ {sf.max_faulted_per_group} component(s) of a group faulted at once; "
        "abort when availability "
        f"over {sf.abort_window_s:g} s < {sf.abort_availability_floor:.0%}; faults clear "
        "themselves after their TTL",
        f"Phases ({len(runbook.phases)}, {total:g} s of load):",
    ]
    for i, ph in enumerate(runbook.phases, 1):
        what = "no fault" if ph.fault is None else (
            f"inject {ph.fault.describe()}, ttl "
            f"{runbook.fault_ttl(ph.fault, default_fault_ttl_s):g} s"
        )
        rec = "" if ph.recovery.action == "none" else (
            f"; then {ph.recovery.action} and wait ≤ {ph.recovery.timeout_s:g} s for ON"
        )
        if ph.sweep is not None and ph.dose is None:  # a search: doses chosen as it runs
            sw = ph.sweep
            lo, hi = sw.doses()
            what += (f"; search {sw.param} between {lo:g} and {hi:g} for {sw.metric}'s "
                     f"breaking point: up to {2 + sw.steps} doses × {sw.trials} trials")
        lines.append(f"  {i}. {ph.name}: {ph.duration_s:g} s, {what}{rec}")
    return "\n".join(lines)
