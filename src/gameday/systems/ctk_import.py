"""``gameday import-ctk``: a Chaos Toolkit experiment as a system file and a runbook.

A Chaos Toolkit experiment says how to check a steady state, which actions to run and
which rollbacks undo them; it says nothing of the system's parts, its traffic or its
detector. :func:`convert` keeps what has a place in a GameDay and lists the rest:

- the **system** (``systems/<name>.yaml``): one component group, ``service``, reached at
  the origin of the first HTTP URL of the experiment (the system is *external*: the
  harness does not start it); its ``steady_state`` from the hypothesis' HTTP probes whose
  tolerance a status list or a JSON equality can say; its ``load`` from the same probes'
  requests (a GameDay needs traffic; the experiment has none: replace it with the real
  mix); one ``chaostoolkit`` fault per action of the method, each with the rollback of
  the same position when the experiment has one per action (or its only rollback when it
  has one action), run by chaostoolkit-lib as written;
- the **runbook** (``runbooks/<name>.yaml``): a baseline, one phase per action (as long
  as the pause after it, at least :data:`MIN_PHASE_S`), a recovery.

``${name}`` references to the experiment's ``configuration`` are resolved when they are
constants, and become ``{{ env('KEY') }}`` when they read the environment, so that a token
is never written into the files. What is not converted (probes of other providers, regex
and range tolerances, method probes, background activities, controls, secrets, unpaired
rollbacks …) is listed in :attr:`CtkImport.gaps` with where it was and why, and written
at the top of both files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from gameday.errors import SystemFileError
from gameday.systems.loader import parse_system

__all__ = ["CtkImport", "Gap", "CtkImportError", "convert", "read_experiment", "MIN_PHASE_S"]

#: The shortest fault phase written (a Chaos Toolkit pause may be 0).
MIN_PHASE_S = 20.0
_GROUP = "service"
_SUBST = re.compile(r"\$\{([^}]+)\}")
_JINJA = re.compile(r"\{[{%#]")
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


class CtkImportError(SystemFileError):
    """The experiment cannot be read or is not a Chaos Toolkit experiment."""


@dataclass(frozen=True)
class Gap:
    """Something of the experiment that has no place in the files: where and why."""

    where: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class CtkImport:
    """The converted experiment: the system and runbook as data, what was converted, what
    was not (:attr:`gaps`)."""

    name: str
    system: dict[str, Any]
    runbook: dict[str, Any]
    converted: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


def read_experiment(path: Path) -> dict[str, Any]:
    """The experiment at ``path`` (JSON, or YAML as ``chaos run`` also takes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CtkImportError(f"{path}: cannot read the experiment: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise CtkImportError(f"{path}: not valid {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CtkImportError(f"{path}: a Chaos Toolkit experiment is a mapping "
                             f"(got {type(data).__name__})")
    return data


def _slug(text: str, fallback: str) -> str:
    slug = _SLUG.sub("-", text).strip("-._")[:63]
    return slug if slug and slug[0].isalnum() else fallback


def _raw(text: str) -> str:
    """Literal text inside a template: Jinja syntax in it is kept as written."""
    return "{% raw %}" + text + "{% endraw %}" if _JINJA.search(text) else text


class _Converter:
    def __init__(self, experiment: dict[str, Any]) -> None:
        self.experiment = experiment
        self.gaps: list[Gap] = []
        self.converted: list[str] = []
        self.config = self._configuration(experiment.get("configuration"))
        self.named = self._named_activities()

    def gap(self, where: str, why: str) -> None:
        self.gaps.append(Gap(where, why))

    # -- ${name} references ------------------------------------------------------------

    def _configuration(self, config: Any) -> dict[str, Any]:
        """name → a constant, or ``("env", KEY, default)``."""
        if config is None:
            return {}
        if not isinstance(config, dict):
            self.gap("configuration", "not a mapping; ignored")
            return {}
        values: dict[str, Any] = {}
        for name, value in config.items():
            if isinstance(value, dict):
                if value.get("type") == "env" and isinstance(value.get("key"), str):
                    values[name] = ("env", value["key"], value.get("default"))
                else:
                    self.gap(f"configuration.{name}",
                             f"a {value.get('type', 'structured')!r} value is not supported "
                             "(constants and environment variables are); references to it "
                             "are left as written")
            else:
                values[name] = value
        return values

    def text(self, value: str, where: str) -> Any:
        """``value`` as a template: literal parts kept, ``${name}`` resolved."""
        whole = _SUBST.fullmatch(value)
        if whole and whole.group(1) in self.config and not isinstance(
                self.config[whole.group(1)], tuple):
            constant = self.config[whole.group(1)]
            return _raw(constant) if isinstance(constant, str) else constant
        out, last = [], 0
        for match in _SUBST.finditer(value):
            out.append(_raw(value[last:match.start()]))
            name = match.group(1)
            ref = self.config.get(name)
            if isinstance(ref, tuple):
                default = "" if ref[2] is None else str(ref[2])
                out.append(f"{{{{ env({json.dumps(ref[1])}, {json.dumps(default)}) }}}}")
            elif name in self.config:
                out.append(_raw(str(ref)))
            else:
                self.gap(where, f"${{{name}}} is not in the experiment's configuration "
                         "(a secret, or set by chaostoolkit at run time): left as written")
                out.append(_raw(match.group(0)))
            last = match.end()
        out.append(_raw(value[last:]))
        return "".join(out)

    def value(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, dict):
            return {k: self.value(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    # -- activities ----------------------------------------------------------------------

    def _named_activities(self) -> dict[str, dict[str, Any]]:
        """Every activity a ``ref`` may name: the hypothesis' probes, then the method's and
        the rollbacks' own (not refs themselves)."""
        named: dict[str, dict[str, Any]] = {}
        hypothesis = self.experiment.get("steady-state-hypothesis") or {}
        for probe in hypothesis.get("probes") or []:
            if isinstance(probe, dict) and "name" in probe:
                named[probe["name"]] = probe
        for key in ("method", "rollbacks"):
            for act in self.experiment.get(key) or []:
                if isinstance(act, dict) and "name" in act and "ref" not in act:
                    named.setdefault(act["name"], act)
        return named

    def activities(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """The activities of ``method`` or ``rollbacks`` with their field paths; a ``ref``
        is replaced by the activity of that name defined before it."""
        items = self.experiment.get(key) or []
        if not isinstance(items, list):
            raise CtkImportError(f"{key}: must be a list of activities")
        out = []
        for i, act in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(act, dict):
                raise CtkImportError(f"{where}: an activity is a mapping")
            if "ref" in act:
                if act["ref"] not in self.named:
                    self.gap(where, f"ref {act['ref']!r} names no activity; skipped")
                    continue
                act = self.named[act["ref"]]
            out.append((f"{where} {act.get('name', '?')!r}", act))
        return out

    # -- steady state ----------------------------------------------------------------------

    def expect(self, tolerance: Any, where: str) -> dict[str, Any] | None:
        """A system file's ``expect`` for an HTTP probe's tolerance; None (and a gap) when
        it cannot say it."""
        if isinstance(tolerance, bool):
            self.gap(where, "a boolean tolerance on an HTTP probe has no status to check")
            return None
        if isinstance(tolerance, int):
            return {"status": [tolerance]}
        if isinstance(tolerance, list) and tolerance and all(
                isinstance(t, int) and not isinstance(t, bool) for t in tolerance):
            return {"status": list(tolerance)}
        if isinstance(tolerance, dict) and tolerance.get("type") == "jsonpath":
            path = _jmespath(str(tolerance.get("path", "")), tolerance.get("target"))
            if path is None:
                self.gap(where, f"JSONPath {tolerance.get('path')!r} (target "
                         f"{tolerance.get('target')!r}) has no JMESPath equivalent here")
                return None
            many = "[*]" in path or ".." in str(tolerance.get("path"))
            if "expect" in tolerance:
                wanted = self.value(tolerance["expect"], where)
                if not many and isinstance(wanted, list):
                    if len(wanted) != 1:
                        self.gap(where, "expects several values of a single-valued path")
                        return None
                    wanted = wanted[0]
                elif many and not isinstance(wanted, list):
                    wanted = [wanted]
                return {"status": [200], "json": {path: wanted}}
            if "count" in tolerance:
                return {"status": [200], "json": {f"length({path})": tolerance["count"]}}
            test = f"length({path}) > `0`" if many else f"{path} != null"
            return {"status": [200], "json": {test: True}}
        kind = tolerance.get("type") if isinstance(tolerance, dict) else type(tolerance).__name__
        self.gap(where, f"a {kind!r} tolerance cannot be said as a status or a JSON value")
        return None

    def http_probe(self, where: str, probe: dict[str, Any]) -> dict[str, Any] | None:
        provider = probe.get("provider") or {}
        if provider.get("type") != "http":
            self.gap(where, f"a {provider.get('type', '?')!r} probe: a GameDay's steady "
                     "state is HTTP probes (run it as a fault's probe by hand)")
            return None
        if not isinstance(provider.get("url"), str):
            self.gap(where, "an HTTP probe without a url")
            return None
        expect = self.expect(probe.get("tolerance"), where)
        if expect is None:
            return None
        out: dict[str, Any] = {"method": str(provider.get("method", "GET")).upper(),
                               "url": self.text(provider["url"], where), "expect": expect}
        if provider.get("headers"):
            out["headers"] = {k: str(self.value(v, where))
                              for k, v in provider["headers"].items()}
        if provider.get("arguments") is not None and out["method"] != "GET":
            out["json"] = self.value(provider["arguments"], where)
        timeout = provider.get("timeout")
        if isinstance(timeout, list) and timeout:
            timeout = sum(t for t in timeout if isinstance(t, int | float))
        if isinstance(timeout, int | float) and timeout > 0:
            out["latency_ms"] = min(float(timeout) * 1000, 60_000)
        return out

    # -- the whole -----------------------------------------------------------------------

    def origin(self) -> str | None:
        """Scheme and host of the first HTTP URL of the experiment that configuration
        constants resolve."""
        for key in ("steady-state-hypothesis", "method", "rollbacks"):
            node = self.experiment.get(key)
            acts = (node or {}).get("probes") if key == "steady-state-hypothesis" else node
            for act in acts if isinstance(acts, list) else []:
                url = ((act or {}).get("provider") or {}).get("url") if isinstance(
                    act, dict) else None
                if not isinstance(url, str):
                    continue
                url = _SUBST.sub(lambda m: str(self.config.get(m.group(1), m.group(0))), url)
                parts = urlsplit(url)
                if parts.scheme in ("http", "https") and parts.netloc and "${" not in url \
                        and not _JINJA.search(parts.netloc):
                    return f"{parts.scheme}://{parts.netloc}"
        return None

    def build(self, name: str) -> CtkImport:
        exp = self.experiment
        for key in ("controls", "extensions", "runtime", "secrets"):
            if exp.get(key):
                self.gap(key, {"secrets": "not carried over: chaostoolkit passes them to "
                               "providers, this harness runs activities with none (use "
                               "{{ env('NAME') }} in the activity instead)"}.get(
                    key, "not carried over (a GameDay has its own run control)"))
        hypothesis = exp.get("steady-state-hypothesis") or {}
        probes: dict[str, Any] = {}
        for i, probe in enumerate(hypothesis.get("probes") or []):
            where = f"steady-state-hypothesis.probes[{i}] {probe.get('name', '?')!r}"
            converted = self.http_probe(where, probe) if isinstance(probe, dict) else None
            if converted is not None:
                probes[_slug(str(probe.get("name", "")), f"probe-{i + 1}")] = converted
                self.converted.append(f"{where} → steady_state")
        faults: dict[str, Any] = {}
        phases: list[dict[str, Any]] = [{"name": "baseline", "duration_s": MIN_PHASE_S}]
        actions = []
        for where, act in self.activities("method"):
            if act.get("type") == "probe":
                self.gap(where, "a probe in the method: a GameDay observes through its "
                         "load, detector and steady state; not converted")
                continue
            if act.get("background"):
                self.gap(where, "background: runs in its own phase here, not beside the "
                         "next activity")
            actions.append((where, act))
        rollbacks = self.activities("rollbacks")
        paired = len(rollbacks) == len(actions) or (len(actions) == 1 and len(rollbacks) == 1)
        if rollbacks and not paired:
            for where, _act in rollbacks:
                self.gap(where, f"{len(rollbacks)} rollbacks for {len(actions)} actions: "
                         "which undoes which is not clear, so none is attached; attach it "
                         "to its fault (faults.<name>.rollback) by hand")
        for i, (where, act) in enumerate(actions):
            fault_name = _slug(str(act.get("name", "")), f"action-{i + 1}")
            while fault_name in faults:
                fault_name = _slug(f"{fault_name}-{i + 1}", f"action-{i + 1}")
            fault: dict[str, Any] = {"provider": "chaostoolkit", "applies_to": [_GROUP],
                                     "action": self._activity(act, where)}
            if paired and rollbacks:
                rb_where, rb = rollbacks[i]
                fault["rollback"] = self._activity(rb, rb_where)
                self.converted.append(f"{rb_where} → faults.{fault_name}.rollback")
            faults[fault_name] = fault
            self.converted.append(f"{where} → faults.{fault_name}")
            pauses = act.get("pauses") or {}
            after = pauses.get("after") if isinstance(pauses, dict) else None
            duration = max(float(after), MIN_PHASE_S) if isinstance(after, int | float) \
                else MIN_PHASE_S
            phases.append({"name": fault_name, "description": str(act.get("name", "")),
                           "fault": {"type": fault_name, "target": f"{_GROUP}/{_GROUP}"},
                           "duration_s": duration,
                           "recovery": {"action": "clear", "timeout_s": 30}})
        if not actions:
            raise CtkImportError("method: no action to turn into a fault (the experiment "
                                 "only observes)")
        phases.append({"name": "recovery", "duration_s": MIN_PHASE_S})
        origin = self.origin()
        if origin is None:
            origin = "http://127.0.0.1:8080"
            self.gap(f"components.{_GROUP}.url", "no plain HTTP URL in the experiment to "
                     f"take it from: {origin} written; set it")
        health = next((p["url"] for p in probes.values() if p["method"] == "GET"), None)
        if health is None:
            self.gap(f"components.{_GROUP}.health", "no GET probe to check liveness with: "
                     "none written, so the health probes that stand in for a detector "
                     "cannot see the service fail; set it")
        requests = {n: {k: v for k, v in p.items() if k != "latency_ms"}
                    for n, p in probes.items() if p["method"] == "GET"}
        if not requests:
            requests = {"root": {"url": origin + "/", "expect": {"status": [200]}}}
            self.gap("load", f"no GET probe to make traffic from: GET {origin}/ written")
        self.gap("load", "made from the steady-state probes: describe the system's real "
                 "traffic (load.requests) for availability and latency that mean something")
        self.gap("detector", "the experiment has none: the harness's health probes stand "
                 "in (TTD/TTR measure them, not the system's own detection)")
        system = {
            "name": name,
            "description": str(exp.get("description") or exp.get("title") or ""),
            "components": {_GROUP: {"url": origin, "health": health}},
            "load": {"requests": requests},
            "detector": {"kind": "none"},
            "steady_state": probes,
            "faults": faults,
        }
        runbook = {
            "name": name,
            "description": str(exp.get("title") or name),
            "system": f"../systems/{name}.yaml",
            "target": "local",
            "seed": 1,
            "load": {"rate": 5, "timeout_s": 2.0},
            "slo": {"availability": 0.99},
            "safety": {"max_faulted_per_group": 1, "fault_ttl_s": 120},
            "phases": phases,
        }
        return CtkImport(name, system, runbook, self.converted, self.gaps)

    def _activity(self, act: dict[str, Any], where: str) -> dict[str, Any]:
        keep = {k: v for k, v in act.items() if k not in ("pauses", "background", "controls")}
        return self.value(keep, where)  # type: ignore[no-any-return]


def _jmespath(path: str, target: Any) -> str | None:
    """A simple JSONPath (``$.a.b[0]``, ``$.a[*].b``, ``$['a']``) as JMESPath into the
    answer's body; None for what this does not translate (filters, slices, recursion)."""
    path = path.strip()
    if not path.startswith("$"):
        return None
    rest = re.sub(r"\[['\"]([^'\"]+)['\"]\]", r".\1", path[1:])
    if target in (None, ""):
        if rest.startswith(".body"):
            rest = rest[len(".body"):]
        else:
            return None
    elif target != "body":
        return None
    if not re.fullmatch(r"((\.[A-Za-z_][\w-]*)|(\[(\d+|\*)\]))*", rest):
        return None
    out = rest.lstrip(".")
    quoted = re.sub(r"(^|\.)([A-Za-z_][\w]*-[\w-]*)", lambda m: f'{m.group(1)}"{m.group(2)}"',
                    out)
    return quoted or "@"


def convert(experiment: dict[str, Any], *, name: str | None = None) -> CtkImport:
    """Convert a Chaos Toolkit experiment; the system it writes is validated (a
    CtkImportError names what did not fit)."""
    if not isinstance(experiment.get("method"), list):
        raise CtkImportError("method: a Chaos Toolkit experiment has a method (a list of "
                             "activities)")
    title = str(experiment.get("title") or "ctk-experiment")
    name = name or _slug(title.lower(), "ctk-experiment")
    converter = _Converter(experiment)
    result = converter.build(name)
    try:
        parse_system(result.system, f"systems/{name}.yaml")
    except SystemFileError as exc:
        raise CtkImportError(f"the converted system does not validate:\n{exc}") from None
    return result
