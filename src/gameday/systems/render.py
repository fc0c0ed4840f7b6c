"""Templates of a system file, rendered in a Jinja sandbox.

A system file is written by a team, but it is still input: templates run in Jinja's
:class:`~jinja2.sandbox.SandboxedEnvironment` (no attribute access to Python internals, no
imports), an undefined name is an error naming it (``StrictUndefined``), and a template is
compiled once, when the file is loaded, so a syntax error names the field before any run.

Only strings are templates. :func:`render_value` renders every string inside a JSON value
(a request body) and keeps numbers, booleans and nulls; a string that is exactly one
expression (``"{{ quantity }}"``) keeps the type of what it gives, so a body can carry a
number drawn from a list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["TemplateProblem", "compile_template", "render", "render_value", "render_int",
           "env"]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                            keep_trailing_newline=False)
_SINGLE = re.compile(r"^\{\{.*\}\}$", re.S)


def env(name: str, default: str = "") -> str:
    """``env('NAME')`` in a template: the harness's environment variable (for tokens)."""
    return os.environ.get(str(name), default)


class TemplateProblem(ValueError):
    """A template that does not compile or render; the message says why."""


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Any:
    """The compiled template; raises TemplateProblem on a syntax error."""
    try:
        return _ENV.from_string(text)
    except TemplateError as exc:
        raise TemplateProblem(f"template {text!r}: {exc}") from None


def _single_expression(text: str) -> Any | None:
    """The compiled expression when ``text`` is exactly ``{{ expr }}``, else None."""
    if not _SINGLE.match(text.strip()):
        return None
    try:
        parsed = _ENV.parse(text)
    except TemplateError:
        return None
    body = parsed.body
    if (len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1
            and not isinstance(body[0].nodes[0], nodes.TemplateData)):
        return _ENV.compile_expression(text.strip()[2:-2].strip(), undefined_to_none=False)
    return None


def render(text: str, context: Mapping[str, Any]) -> str:
    """``text`` rendered with ``context``; raises TemplateProblem naming what failed."""
    try:
        return str(compile_template(text).render(context))
    except TemplateProblem:
        raise
    except Exception as exc:  # StrictUndefined, a sandbox refusal, a filter's error
        raise TemplateProblem(f"template {text!r}: {exc}") from None


def render_int(value: str | int, context: Mapping[str, Any]) -> int:
    """A template that must give an integer (a port)."""
    if isinstance(value, int):
        return value
    text = render(value, context).strip()
    try:
        return int(text)
    except ValueError:
        raise TemplateProblem(f"template {value!r} must give an integer, gave {text!r}") from None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Every string in a JSON-like value rendered; a lone ``{{ expr }}`` keeps its type."""
    if isinstance(value, str):
        expression = _single_expression(value)
        if expression is not None:
            try:
                result = expression(**context)
            except Exception as exc:
                raise TemplateProblem(f"template {value!r}: {exc}") from None
            if isinstance(result, str | int | float | bool) or result is None:
                return result
        return render(value, context)
    if isinstance(value, Mapping):
        return {str(k): render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value
