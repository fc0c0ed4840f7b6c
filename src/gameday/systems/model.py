"""A system under test as data: the models of a system file (``systems/<name>.yaml``).

Every model forbids unknown fields. Text marked *template* is rendered by
:mod:`gameday.systems.render` (a Jinja sandbox) with the run's context: ``base_port``,
``host``, ``target``, each component group by name (``lb.url``, ``backend[0].port``,
``backend.members``), the load's ``values`` drawn for the request, ``member`` and
``index`` inside a group, ``response`` in a follow-up, ``ttl_s`` and the fault's
parameters in a fault action. *Paths* into JSON answers are JMESPath expressions
(https://jmespath.org), checked when the file is loaded. ``docs/systems.md`` is the
reference a team writes its own system file from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "NAME_PATTERN",
    "LocalRun",
    "ComposeRun",
    "ComponentGroup",
    "Expect",
    "FollowUp",
    "Answer",
    "Change",
    "RequestTemplate",
    "Oracle",
    "LoadMix",
    "TransitionsDetector",
    "StatusDetector",
    "NoDetector",
    "Detector",
    "Watch",
    "Probe",
    "ValueAt",
    "Invariant",
    "HttpAction",
    "HttpFault",
    "ProcessFault",
    "ContainerFault",
    "ChaosToolkitFault",
    "FaultProvider",
    "System",
]

#: Names of groups, members, requests, probes, faults: what a runbook and a report show.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
#: The most follow-up requests one request of the load may have.
MAX_FOLLOW_UPS = 4
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
#: An environment variable's name.
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Template = Annotated[str, Field(min_length=1, max_length=4000)]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
Status = Annotated[int, Field(ge=100, le=599)]


def _jmespath(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"is not a JMESPath expression ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0]})") from None
    return value


#: A JMESPath expression, compiled when the file is loaded.
JsonPath = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_jmespath)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- components ---------------------------------------------------------------------------


class LocalRun(_Model):
    """How the local target starts one member: a process it supervises and restarts, or
    one of the launcher's ``builtin`` services (``postgres``: a PostgreSQL server on a
    fresh data folder with ``database`` created, as an unprivileged user when the
    harness runs as root; ``kafka``: a Kafka-protocol broker, Tansu, in memory), started
    before every other member and stopped after them."""

    #: argv, each item a template; ``{{ python }}`` is the harness's interpreter.
    command: Annotated[list[Template], Field(min_length=1)] | None = None
    builtin: Literal["postgres", "kafka"] | None = None
    #: The database a ``postgres`` builtin creates (its superuser is ``postgres``).
    database: Name | None = None
    env: dict[str, Template] = Field(default_factory=dict)
    #: Secrets: the member's variable → the harness's environment variable whose value it
    #: gets at each start (e.g. ``CHAOS_TOKEN: GAMEDAY_CHAOS_TOKEN``). Unlike ``env`` (and
    #: ``env()`` in it), which is rendered into the spec the state folder keeps, only the
    #: names are written down; a variable the harness does not have is left unset.
    secret_env: dict[EnvName, EnvName] = Field(default_factory=dict)
    #: Working directory (template), relative to the system file's folder.
    cwd: Template | None = None
    #: Files written before each start (a configuration): path relative to the member's
    #: own folder ``{{ run_dir }}`` → content (template).
    files: dict[Annotated[str, Field(pattern=r"^[\w.-]+(/[\w.-]+)*$")], Template] = Field(
        default_factory=dict)

    @field_validator("files")
    @classmethod
    def _inside(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            if ".." in path.split("/"):
                raise ValueError(f"{path!r} must stay inside the member's folder (no '..')")
        return value
    #: Restart the member when it exits (a crash fault relies on it).
    restart: bool = True
    #: Seconds to wait for its health URL after a (re)start.
    start_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0

    @model_validator(mode="after")
    def _command_or_builtin(self) -> LocalRun:
        if (self.command is None) == (self.builtin is None):
            raise ValueError("give either command or builtin (postgres, kafka)")
        if self.builtin is not None and (self.env or self.secret_env or self.files or self.cwd):
            raise ValueError(f"builtin: {self.builtin} takes no env, secret_env, files or cwd")
        if (self.database is not None) != (self.builtin == "postgres"):
            raise ValueError("database: give it exactly with builtin: postgres")
        return self


class ComposeRun(_Model):
    """Where a member runs on the compose target: a service of the system's compose file."""

    service: Template


class ComponentGroup(_Model):
    """A part faults can hit, as a group of members (``backend: members [a, b, c]``); a
    single component is a group of one (its member named after the group)."""

    members: Annotated[list[Name], Field(min_length=1, max_length=64)] | None = None
    #: Port of a member (template giving an integer; ``base_port``, ``index``, ``member``).
    port: Template | Annotated[int, Field(ge=1, le=65535)] | None = None
    #: Base URL of a member (template). Default ``http://{{ host }}:{{ port }}``.
    url: Template | None = None
    #: Health URL: a path under ``url`` or an absolute URL (template); 2xx means alive.
    health: Template | None = "/health"
    local: LocalRun | None = None
    compose: ComposeRun | None = None
    #: Members cannot be faulted (a load balancer, a database): only probed and read.
    faultable: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> ComponentGroup:
        if self.url is None and self.port is None:
            raise ValueError("url: give the members' url or port (template)")
        return self


# -- load ---------------------------------------------------------------------------------


class Expect(_Model):
    """What counts as success: a status among ``status`` and each JSON path equal to its
    value (``json: {quorum_achieved: true}``)."""

    status: Annotated[list[Status], Field(min_length=1)] = Field(default_factory=lambda: [200])
    json_: dict[JsonPath, Any] = Field(default_factory=dict, alias="json")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Answer(_Model):
    """The value a request reads, judged by the load's oracle: ``value`` (a path into the
    answer) for the oracle's ``key`` (a template, e.g. ``{{ product }}``)."""

    key: Template
    value: JsonPath


class Change(_Model):
    """A change the request makes to the oracle's truth while it is in force: ``by`` (a
    template giving a number, e.g. ``-{{ quantity }}``) on ``key``. It ends when a
    follow-up with ``ends_change`` succeeds."""

    key: Template
    by: Template | float


class FollowUp(_Model):
    """A request sent ``after_s`` after the first one succeeded; ``response`` in its
    templates is the first answer's JSON (``{{ response.order_id }}``)."""

    after_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    method: HttpMethod = "POST"
    url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    expect: Expect = Field(default_factory=Expect)
    #: Its success ends the first request's change to the truth (a cancel).
    ends_change: bool = False
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RequestTemplate(_Model):
    """One kind of request of the load mix."""

    weight: Annotated[float, Field(gt=0)] = 1.0
    method: HttpMethod = "GET"
    url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    #: A JSON body; strings in it are templates.
    json_: Any = Field(default=None, alias="json")
    expect: Expect = Field(default_factory=Expect)
    answer: Answer | None = None
    #: A path to a boolean in the answer: whether a quorum served it (a majority voter's
    #: ``quorum_achieved``). The run's quorum rate is the share of these requests whose
    #: answer says true; a failed request counts as served without one.
    quorum: JsonPath | None = None
    change: Change | None = None
    follow_up: list[FollowUp] = Field(default_factory=list, max_length=MAX_FOLLOW_UPS)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Oracle(_Model):
    """Where the right answer comes from: a counter per key, read once at the start from
    ``url`` (``items``: path to a mapping key → object, ``value``: path in each object),
    then moved by the load's own changes. An answer is wrong when it lies outside every
    value the truth may have had while the request was in flight (``settle_s`` of grace
    for the system to apply an ended change)."""

    kind: Literal["counter"] = "counter"
    url: Template
    items: JsonPath
    value: JsonPath = "@"
    settle_s: Annotated[float, Field(ge=0, le=60)] = 2.0


class LoadMix(_Model):
    """The load: a weighted mix of request templates, values drawn by the seeded RNG."""

    #: Named lists; each request draws one value of each (``{{ product }}``).
    values: dict[Name, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    requests: Annotated[dict[Name, RequestTemplate], Field(min_length=1)]
    oracle: Oracle | None = None

    @property
    def judges_answers(self) -> bool:
        """With an oracle, answers are judged right or wrong; without, wrong answers are
        not applicable."""
        return self.oracle is not None

    @property
    def counts_quorum(self) -> bool:
        """Whether some request reads a quorum from its answer (the run's quorum rate)."""
        return any(r.quorum is not None for r in self.requests.values())

    @model_validator(mode="after")
    def _oracle_has_answers(self) -> LoadMix:
        uses = [n for n, r in self.requests.items() if r.answer or r.change]
        if uses and self.oracle is None:
            raise ValueError(f"oracle: requests {', '.join(uses)} read or change the truth; "
                             "say where it comes from (oracle.url)")
        return self


# -- detector -----------------------------------------------------------------------------


class _DetectorView(_Model):
    """What a detector's answer holds: a list (``items``) whose items name a component
    (``component``, matched to a member) and its state (``state``; down when among
    ``down``)."""

    kind: str  # each detector's own Literal
    url: Template
    items: JsonPath
    component: JsonPath
    state: JsonPath
    down: Annotated[list[Any], Field(min_length=1)]


class TransitionsDetector(_DetectorView):
    """The system keeps its own history: ``url`` answers its transitions, each also with
    when it happened (``at``, ISO 8601 or epoch seconds). ``{{ since }}`` in ``url`` is
    the run's start, ISO 8601."""

    kind: Literal["transitions"]
    at: JsonPath
    interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class StatusDetector(_DetectorView):
    """The system shows only its current view: the harness polls ``url`` every
    ``interval_s`` and records a transition when a component's state changes."""

    kind: Literal["status"]
    interval_s: Annotated[float, Field(gt=0, le=60)] = 0.1


class NoDetector(_Model):
    """No detector of its own: the harness's health probes of each member stand in (the
    report says so), polled every ``interval_s``."""

    kind: Literal["none"]
    interval_s: Annotated[float, Field(gt=0, le=60)] = 0.2


Detector = Annotated[TransitionsDetector | StatusDetector | NoDetector,
                     Field(discriminator="kind")]


# -- steady state and invariants ------------------------------------------------------------


class Watch(_Model):
    """A steady-state probe that must also hold *while* the GameDay runs: sent every
    ``interval_s`` from the steady state before to the end of the run; failing without
    a break for longer than ``grace_s`` aborts the GameDay (its rollback runs, the
    journal and report say which probe failed and what it saw)."""

    interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    grace_s: Annotated[float, Field(ge=0, le=600)] = 5.0


class Probe(_Model):
    """An HTTP probe with tolerances: used before and after the run and, with ``during``,
    watched while it runs as an abort condition."""

    method: HttpMethod = "GET"
    url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    expect: Expect = Field(default_factory=Expect)
    #: The answer must come within this bound (milliseconds).
    latency_ms: Annotated[float, Field(gt=0, le=60_000)] = 2000.0
    #: Probe every member of this group (``member``/``index`` in the templates).
    each: Name | None = None
    #: Also watched during the run, an abort condition (None: before and after only).
    during: Watch | None = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ValueAt(_Model):
    """A value read from the system: ``path`` in the JSON answer of ``url``."""

    url: Template
    path: JsonPath = "@"


class Counters(_Model):
    """A front's own counts per member of ``group`` (a majority voter, a balancer), read from
    ``url`` before a fault and when its phase ends: ``asked`` (a path to a mapping member →
    requests to it that finished) and ``timed_out`` (member → those of them that got no
    answer within the front's timeout; ``timeout_s``: a path to that timeout). The
    faulted member's share that timed out is the phase's ``front_timeout_share``."""

    url: Template
    group: Name
    asked: JsonPath
    timed_out: JsonPath
    timeout_s: JsonPath | None = None


class Invariant(_Model):
    """A check after the run: ``value`` equals ``equals`` (for each member of ``each``,
    when given), or a Python callable ``module:function`` taking the resolved system and
    returning a list of problems (empty: holds) for what data cannot express."""

    each: Name | None = None
    value: ValueAt | None = None
    equals: ValueAt | None = None
    python: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Invariant:
        compare = self.value is not None or self.equals is not None
        if compare == (self.python is not None):
            raise ValueError("give either value and equals, or python")
        if compare and (self.value is None or self.equals is None):
            raise ValueError("a comparison needs both value and equals")
        return self


# -- fault providers ------------------------------------------------------------------------


class HttpAction(_Model):
    """One request of a system's own fault API (templates: the member, ``ttl_s``, the
    fault's parameters)."""

    method: HttpMethod = "POST"
    url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    expect: Expect = Field(default_factory=Expect)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Provider(_Model):
    #: Groups whose members this fault may hit (default: every faultable group).
    applies_to: list[Name] | None = None
    #: Parameters a runbook may set, with their defaults (``latency_ms: 1000``).
    params: dict[Name, Any] = Field(default_factory=dict)

    def numeric_params(self) -> list[str]:
        """The parameters whose default is a number (not a boolean): those a runbook's
        ``sweep`` may dose."""
        return [k for k, v in self.params.items()
                if isinstance(v, int | float) and not isinstance(v, bool)]

    def params_for(self, given: dict[str, Any]) -> dict[str, Any]:
        """The parameters the fault is injected with: its defaults, overridden by
        ``given`` (the runbook's, a sweep's dose). A whole number given for a parameter
        whose default is an integer is sent as one (a dose ``3.0`` is ``3``): a template
        ``"{{ retries }}"`` keeps its value's type, and an API may want an integer."""
        out = {**self.params, **given}
        for name, value in given.items():
            default = self.params.get(name)
            if (isinstance(default, int) and not isinstance(default, bool)
                    and isinstance(value, float) and value.is_integer()):
                out[name] = int(value)
        return out


class HttpFault(_Provider):
    """The system's own fault API: ``inject`` then ``clear``. When the API honours the
    TTL it is sent (``{{ ttl_s }}``) and ``honours_ttl`` is true; otherwise the harness's
    dead-man's switch sends ``clear`` when the TTL runs out, even after ``kill -9``."""

    provider: Literal["http"]
    inject: HttpAction
    clear: HttpAction
    honours_ttl: bool = False


class ProcessFault(_Provider):
    """A signal to a member's process on the local target: ``kill`` (SIGKILL; the
    supervisor restarts it), ``terminate`` (SIGTERM), ``stop`` (SIGSTOP, a hang, ended by
    SIGCONT when the TTL runs out)."""

    provider: Literal["process"]
    action: Literal["kill", "terminate", "stop"]


class ContainerFault(_Provider):
    """A Docker operation on a member's container on the compose target: ``kill`` (the
    restart policy brings it back), ``stop`` (started again at the TTL), ``pause``
    (unpaused), ``disconnect`` from ``network`` (reconnected)."""

    provider: Literal["container"]
    action: Literal["kill", "stop", "pause", "disconnect"]
    network: Template | None = None

    @model_validator(mode="after")
    def _network(self) -> ContainerFault:
        if (self.action == "disconnect") != (self.network is not None):
            raise ValueError("network: give it exactly when the action is disconnect")
        return self


class ChaosToolkitFault(_Provider):
    """A Chaos Toolkit activity run by chaostoolkit-lib (its http, process and python
    providers, and every extension installed): ``action`` injects, ``rollback`` undoes,
    run by the dead-man's switch at the TTL when the harness cannot."""

    provider: Literal["chaostoolkit"]
    action: dict[str, Any]
    rollback: dict[str, Any] | None = None


FaultProvider = Annotated[HttpFault | ProcessFault | ContainerFault | ChaosToolkitFault,
                          Field(discriminator="provider")]


# -- the system -----------------------------------------------------------------------------


class System(_Model):
    """A system file."""

    name: Name
    description: str = ""
    #: Where the harness reaches the system; ``{{ host }}`` in templates.
    host: str = "127.0.0.1"
    #: Default first port (``{{ base_port }}``); --base-port / GAMEDAY_BASE_PORT override.
    base_port: Annotated[int, Field(ge=1, le=65000)] = 5001
    #: Compose file(s) of the compose target, relative to the system file.
    compose_file: list[str] = Field(default_factory=list)
    components: Annotated[dict[Name, ComponentGroup], Field(min_length=1)]
    load: LoadMix
    detector: Detector = Field(default_factory=lambda: NoDetector(kind="none"))
    steady_state: dict[Name, Probe] = Field(default_factory=dict)
    invariants: dict[Name, Invariant] = Field(default_factory=dict)
    faults: dict[Name, FaultProvider] = Field(default_factory=dict)
    #: A front's per-member counts: the phase's ``front_timeout_share``.
    counters: Counters | None = None

    @model_validator(mode="after")
    def _names_resolve(self) -> System:
        groups = set(self.components)
        for where, name in self._group_references():
            if name not in groups:
                raise ValueError(f"{where}: no component group {name!r}; groups: "
                                 f"{', '.join(sorted(groups))}")
        return self

    @model_validator(mode="after")
    def _one_of_each_builtin(self) -> System:
        seen: dict[str, str] = {}
        for name, group in self.components.items():
            builtin = group.local.builtin if group.local else None
            if builtin is None:
                continue
            if len(group.members or [name]) != 1:
                raise ValueError(f"components.{name}.local.builtin: a builtin {builtin} is "
                                 "one member (give no members)")
            if builtin in seen:
                raise ValueError(f"components.{name}.local.builtin: {builtin} is already "
                                 f"components.{seen[builtin]}; a system has one of each")
            seen[builtin] = name
        return self

    def _group_references(self) -> list[tuple[str, str]]:
        refs: list[tuple[str, str]] = []
        for name, probe in self.steady_state.items():
            if probe.each:
                refs.append((f"steady_state.{name}.each", probe.each))
        for name, inv in self.invariants.items():
            if inv.each:
                refs.append((f"invariants.{name}.each", inv.each))
        for name, fault in self.faults.items():
            refs.extend((f"faults.{name}.applies_to", g) for g in fault.applies_to or [])
        if self.counters is not None:
            refs.append(("counters.group", self.counters.group))
        return refs

    def members(self, group: str) -> list[str]:
        """The members of ``group``; a single component is a group of one, named after it."""
        return list(self.components[group].members or [group])

    def groups(self) -> dict[str, list[str]]:
        """Every group's members (what a trial's rotation moves a fault through)."""
        return {g: self.members(g) for g in self.components}
