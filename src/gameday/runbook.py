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
``rotate_replicas`` (default true) moves each fault to the next replica every trial, so
that no replica's quirks make all the figures. :func:`load_runbook` returns the runbook so
expanded (:func:`expand_trials`); a single trial is left exactly as written.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gameday.errors import RunbookError
from gameday.runbook_errors import message, read_yaml
from gameday.sweep import SWEPT_PARAMS, Sweep, default_target, expand_sweeps

__all__ = [
    "FAULT_TYPES",
    "REPLICAS",
    "DEFAULT_FAULT_TTL_S",
    "FaultType",
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

FaultType = Literal["crash", "latency", "intermittent", "incorrect_response"]
#: The inventory stack's fault presets (its own HTTP fault API), for runbooks without a
#: ``system``.
FAULT_TYPES: tuple[str, ...] = ("crash", "latency", "intermittent", "incorrect_response")
REPLICAS: tuple[str, ...] = ("1", "2", "3")
#: The component group of the inventory stack's replicas (``target: inventory/2``).
INVENTORY_GROUP = "inventory"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
DEFAULT_PRODUCTS = ["PROD-001", "PROD-002", "PROD-003"]
#: The most trials a runbook may ask for (each repeats every fault phase).
MAX_TRIALS = 200
#: Time-to-live of a fault when neither the runbook nor GAMEDAY_FAULT_TTL_S names one.
DEFAULT_FAULT_TTL_S = 60.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Fault(_Model):
    """One fault on one component.

    ``type`` names a fault of the runbook's system (its ``faults``), ``target`` the
    component it hits (``group/member``) and ``params`` that fault's parameters. Without
    a ``system`` the runbook drives the inventory stack, whose four presets read as they
    always did: ``{type: latency, replica: "2", latency_ms: 500}`` is ``{type: latency,
    target: inventory/2}`` with that parameter. The preset fields (``latency_ms``,
    ``probability``, ``product_id``) that do not apply to the type are ignored.
    """

    type: str = Field(min_length=1, pattern=NAME_PATTERN)
    #: ``group/member`` (``backend/b``); the inventory stack also takes ``replica``.
    target: str | None = Field(default=None, pattern=TARGET_PATTERN)
    replica: Literal["1", "2", "3"] | None = None
    latency_ms: Annotated[float, Field(ge=0, le=60_000)] = 1000.0
    probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    product_id: str = "PROD-001"
    #: Parameters of a system's fault (its ``faults.<type>.params`` say which and their
    #: defaults).
    params_: dict[str, float | int | str | bool] = Field(default_factory=dict, alias="params")
    #: Time-to-live sent with the fault; None → ``safety.fault_ttl_s`` (module docstring).
    ttl_s: Annotated[float | None, Field(gt=0)] = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    #: The inventory presets' own parameter fields.
    PRESET_FIELDS: ClassVar[tuple[str, ...]] = ("latency_ms", "probability", "product_id")

    @field_validator("replica", mode="before")
    @classmethod
    def _replica_as_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _one_component(self) -> Fault:
        if self.target is not None and self.replica is not None:
            raise ValueError("replica: give target (group/member) or replica, not both")
        if self.target is None and self.replica is None:
            raise ValueError("target: say which component to fault: target: <group>/<member> "
                             "(the inventory stack also takes replica: 1, 2 or 3)")
        return self

    @property
    def component(self) -> str:
        """``group/member``: ``inventory/2`` for a preset's ``replica: "2"``."""
        return self.target if self.target is not None else f"{INVENTORY_GROUP}/{self.replica}"

    @property
    def group(self) -> str:
        return self.component.split("/", 1)[0]

    @property
    def member(self) -> str:
        return self.component.split("/", 1)[1]

    @property
    def where(self) -> str:
        """How messages name the component: ``replica 2`` (a preset) or ``backend/b``."""
        return f"replica {self.replica}" if self.replica is not None else self.component

    def params(self) -> dict[str, Any]:
        """The fault's own parameters (no ttl): a preset's, as sent to ``POST
        /inject-failure``, or those the runbook gave a system's fault."""
        if self.params_:
            return dict(self.params_)
        if self.type == "latency":
            return {"latency_ms": self.latency_ms}
        if self.type == "intermittent":
            return {"probability": self.probability}
        if self.type == "incorrect_response":
            return {"product_id": self.product_id}
        return {}

    def with_param(self, name: str, value: float) -> Fault:
        """This fault with parameter ``name`` set (a sweep's dose): a preset's field, or
        an entry of a system fault's ``params``."""
        if self.replica is None:
            return self.model_copy(update={"params_": {**self.params_, name: value}})
        return self.model_copy(update={name: value})

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.type} on {self.where}" + (f" ({extra})" if extra else "")


class Recovery(_Model):
    """How a phase's fault is rolled back, and how long to wait for the replica to be ON."""

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
    """Open-loop client load: ``rate`` requests/s, ``read_ratio`` of them voter reads.

    The rest are order writes (``POST /orders`` quantity 1), each cancelled
    ``cancel_after_s`` later so that stock stays stable.
    """

    rate: float = Field(gt=0, le=5000)
    read_ratio: Annotated[float, Field(ge=0, le=1)] = 0.8
    products: list[str] = Field(default_factory=lambda: list(DEFAULT_PRODUCTS), min_length=1)
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    cancel_after_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    #: "uniform": every 1/rate s; "poisson": exponential gaps drawn from the runbook seed.
    arrival: Literal["uniform", "poisson"] = "uniform"
    # -- a runbook with a ``system``: its file's load mix, adjusted for this GameDay ------
    #: Weight of each request of the system's load (``load.requests``); a request not
    #: named keeps its file's weight, 0 leaves it out.
    mix: dict[str, Annotated[float, Field(ge=0)]] | None = None
    #: Lists replacing the system's ``load.values`` of the same name (``product: [A]``).
    values: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = None
    #: Per request: when its first follow-up goes, in seconds after the request's answer
    #: (later follow-ups keep their spacing).
    follow_up_after_s: dict[str, Annotated[float, Field(ge=0, le=3600)]] | None = None


#: Load fields that adjust a system file's mix (a runbook without ``system`` has none).
SYSTEM_ONLY_LOAD = ("mix", "values", "follow_up_after_s")


def _default_ttd() -> dict[str, float]:
    return {"crash": 0.8, "latency": 1.0, "intermittent": 1.0, "incorrect_response": 0.5}


class SloSpec(_Model):
    """Service-level targets checked per phase (see :func:`gameday.metrics.evaluate`)."""

    availability: Annotated[float, Field(ge=0, le=1)] = 0.999
    #: p95 of a fault phase ≤ ratio × baseline p95 (or ≤ latency_p95_min_ms, the larger).
    latency_p95_ratio: Annotated[float, Field(gt=0)] = 1.5
    #: Absolute floor of the p95 target, for baselines of a few ms where noise dominates.
    latency_p95_min_ms: Annotated[float, Field(ge=0)] = 0.0
    latency_p99_ms: Annotated[float | None, Field(gt=0)] = None
    #: Per fault type (a system's fault name), the TTD target; a type without one has no
    #: TTD check. The inventory presets' targets are filled in.
    ttd_s: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=_default_ttd)
    ttr_s: Annotated[float, Field(gt=0)] = 5.0
    #: With trials: the share of injections to detect, judged on its Wilson interval (a
    #: target of 1.0 could only ever fail or stay inconclusive: no finite run proves it).
    detection_rate: Annotated[float, Field(gt=0, le=1)] = 0.9
    quorum_rate: Annotated[float, Field(ge=0, le=1)] = 0.99
    wrong_answers: Annotated[int, Field(ge=0)] = 0

    @field_validator("ttd_s", mode="after")
    @classmethod
    def _fill_ttd(cls, v: dict[str, float]) -> dict[str, float]:
        return {**_default_ttd(), **v}


class SafetySpec(_Model):
    #: The most components of one group faulted at once (default 1: a quorum survives).
    max_faulted_replicas: Annotated[int, Field(ge=0, le=64)] = 1
    abort_availability_floor: Annotated[float, Field(ge=0, le=1)] = 0.9
    abort_window_s: Annotated[float, Field(gt=0)] = 5.0
    #: Requests the window must hold before the floor can abort (one early failure can't).
    abort_min_samples: Annotated[int, Field(ge=1)] = 20
    #: TTL of every fault without its own; None → GAMEDAY_FAULT_TTL_S, else the default.
    fault_ttl_s: Annotated[float | None, Field(gt=0)] = None
    #: How long after its phase a fault must still be in force: time to roll it back.
    rollback_margin_s: Annotated[float, Field(ge=0, le=600)] = 5.0


class Runbook(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    target: Literal["local", "compose"] = "local"
    seed: int = 0
    #: The system file this GameDay runs against (``systems/lb.yaml``: relative to the
    #: runbook's folder, else the working directory, else the repository). None: the
    #: project's own inventory stack, with its fault presets.
    system: str | None = Field(default=None, min_length=1, max_length=1000)
    load: LoadSpec
    slo: SloSpec = Field(default_factory=lambda: SloSpec())
    safety: SafetySpec = Field(default_factory=lambda: SafetySpec())
    phases: list[Phase] = Field(min_length=1)
    #: Times the fault phases are run (see the module docstring).
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS)] = 1
    trial_order: Literal["fixed", "shuffled"] = "fixed"
    rotate_replicas: bool = True

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
        if self.system is None:
            _inventory_faults(self.phases)
            _inventory_sweeps(self.phases)
            for name in SYSTEM_ONLY_LOAD:
                if getattr(self.load, name) is not None:
                    raise ValueError(f"load.{name}: adjusts a system's load mix; this runbook "
                                     "names no system (its load is the inventory stack's: "
                                     "read_ratio, products, cancel_after_s)")
        else:  # the swept parameter is checked against the system's file (runbook_system)
            for i, ph in enumerate(self.phases):
                if ph.sweep is not None and ph.fault is None:
                    raise ValueError(f"phases[{i}].sweep: doses the phase's fault; this "
                                     "phase has no fault")
        worst, at, group = max_concurrent_faults(self.phases)
        if worst > self.safety.max_faulted_replicas:
            what = "replicas" if group == INVENTORY_GROUP else f"components of group {group!r}"
            raise ValueError(
                f"phases[{at}].fault: {worst} {what} would be faulted at once, "
                f"safety.max_faulted_replicas allows {self.safety.max_faulted_replicas} "
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


def _inventory_faults(phases: list[Phase]) -> None:
    """Without a system: every fault is a preset of the inventory stack on one of its
    replicas (``target: inventory/2`` is read as ``replica: "2"``)."""
    for i, ph in enumerate(phases):
        f = ph.fault
        if f is None:
            continue
        if f.type not in FAULT_TYPES:
            raise ValueError(f"phases[{i}].fault.type: must be one of "
                             f"{', '.join(map(repr, FAULT_TYPES))} (got {f.type!r}); other "
                             "faults come from a system file (the runbook's `system`)")
        if f.params_:
            raise ValueError(f"phases[{i}].fault.params: the inventory presets take their "
                             f"parameters as fields ({', '.join(Fault.PRESET_FIELDS)})")
        if f.target is not None:
            if f.group != INVENTORY_GROUP or f.member not in REPLICAS:
                raise ValueError(
                    f"phases[{i}].fault.target: without a system the runbook faults the "
                    f"inventory stack: {INVENTORY_GROUP}/1, {INVENTORY_GROUP}/2 or "
                    f"{INVENTORY_GROUP}/3 (got {f.target!r})")
            f.replica, f.target = f.member, None  # type: ignore[assignment]


def _inventory_sweeps(phases: list[Phase]) -> None:
    """Without a system: a sweep doses a preset's parameter (:data:`SWEPT_PARAMS`), on a
    fault of the type it belongs to."""
    for i, ph in enumerate(phases):
        if ph.sweep is None:
            continue
        param = ph.sweep.param
        if param not in SWEPT_PARAMS:
            raise ValueError(f"phases[{i}].sweep.param: must be one of "
                             f"{', '.join(map(repr, SWEPT_PARAMS))} (got {param!r}); other "
                             "parameters come from a system file (the runbook's `system`)")
        wanted = SWEPT_PARAMS[param][0]
        if ph.fault is None or ph.fault.type != wanted:
            got = "no fault" if ph.fault is None else f"a {ph.fault.type} fault"
            raise ValueError(f"phases[{i}].sweep.param: {param} is a parameter of a "
                             f"{wanted} fault; this phase has {got}")


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
    ``target`` rotates through; a preset's replica rotates through 1, 2, 3. A runbook with
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
            if ph.fault is not None and runbook.rotate_replicas:
                update["fault"] = _rotated(ph.fault, k, members or {})
            phases.append(ph.model_copy(update=update))
    phases += runbook.phases[last + 1:]
    return runbook.model_copy(update={"phases": phases})


def _rotated(fault: Fault, k: int, members: dict[str, list[str]]) -> Fault:
    """``fault`` moved ``k - 1`` members on within its group (trial ``k``)."""
    if fault.replica is not None:
        at = (REPLICAS.index(fault.replica) + k - 1) % len(REPLICAS)
        return fault.model_copy(update={"replica": REPLICAS[at]})
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
    if runbook.system is not None:
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
    members = None
    if runbook.system is not None:
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
    if runbook.system is not None:
        adjusted = [f"{name} " + ", ".join(
                        f"{k} {', '.join(map(str, v)) if isinstance(v, list) else f'{v:g}'}"
                        for k, v in got.items())
                    for name in SYSTEM_ONLY_LOAD if (got := getattr(ld, name))]
        load_line = (f"Load: {ld.rate:g} req/s open-loop ({ld.arrival}), system "
                     f"{runbook.system}'s own request mix"
                     + (f" adjusted ({'; '.join(adjusted)})" if adjusted else "")
                     + f"; timeout {ld.timeout_s:g} s")
        used = dict.fromkeys(p.fault.type for p in runbook.phases if p.fault)
        slo_line = (f"SLO: availability ≥ {slo.availability:.3%}, p95 ≤ "
                    f"{slo.latency_p95_ratio:g}× baseline, TTR ≤ {slo.ttr_s:g} s, TTD "
                    + (", ".join(f"{k} ≤ {slo.ttd_s[k]:g} s" for k in used if k in slo.ttd_s)
                       or "not checked"))
    else:
        load_line = (
            f"Load: {ld.rate:g} req/s open-loop ({ld.arrival}), {ld.read_ratio:.0%} voter reads, "
            f"{1 - ld.read_ratio:.0%} order writes cancelled after {ld.cancel_after_s:g} s; "
            f"products {', '.join(ld.products)}; timeout {ld.timeout_s:g} s")
        slo_line = (
            f"SLO: availability ≥ {slo.availability:.3%}, p95 ≤ {slo.latency_p95_ratio:g}× "
            f"baseline, quorum ≥ {slo.quorum_rate:.1%}, wrong answers ≤ {slo.wrong_answers}, "
            f"TTR ≤ {slo.ttr_s:g} s, TTD "
            + ", ".join(f"{k} ≤ {v:g} s" for k, v in slo.ttd_s.items()))
    lines = [
        f"GameDay '{runbook.name}' on target {runbook.target} (seed {runbook.seed})"
        + (f", {runbook.trials} trials ({runbook.trial_order} order"
           f"{', replicas rotated' if runbook.rotate_replicas else ''})"
           if runbook.trials > 1 else ""),
        *( [f"  {runbook.description.strip()}"] if runbook.description.strip() else [] ),
        load_line,
        slo_line,
        f"Safety: ≤ {sf.max_faulted_replicas} "
        f"{'component(s) of a group' if runbook.system else 'replica(s)'} faulted at once; "
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
