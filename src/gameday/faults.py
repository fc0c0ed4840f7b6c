"""Fault control over the replicas' ``/inject-failure`` route.

Every action is safe to repeat: :meth:`FaultClient.inject` clears first, then sets, and
always sends ``ttl_s`` so a fault outlives no orchestrator; :meth:`FaultClient.clear`
treats "already clear" as success. Failures raise :class:`FaultControlError` (a
:class:`~gameday.errors.FaultError`) whose ``transient`` says whether a retry may help:

- transient: connection refused/reset, timeout, HTTP 5xx — e.g. a crashed replica that is
  not back yet; the flow retries.
- permanent: HTTP 401 (chaos token missing or wrong), other 4xx (bad fault parameters),
  an unknown replica.

A ``crash`` fault ends the replica right after it answers; when the answer itself is lost
(connection closed mid-answer) the inject counts as done (``{"assumed": true}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gameday.errors import FaultError
from gameday.http import classify, client, is_transient, json_or_none
from gameday.runbook import DEFAULT_FAULT_TTL_S, REPLICAS, Fault
from gameday.targets.base import StackUrls

__all__ = ["FaultClient", "FaultControlError"]


class FaultControlError(FaultError):
    """A fault request failed. ``transient``: a retry may succeed."""

    def __init__(
        self, message: str, *, transient: bool, replica: str | None = None,
        status: int | None = None, error_class: str = "",
    ) -> None:
        super().__init__(message, transient=transient)
        self.replica = replica
        self.status = status
        self.error_class = error_class


class FaultClient:
    """Inject, clear and read faults on inventory replicas "1".."3"."""

    @classmethod
    def for_settings(cls, urls: StackUrls, settings: Any) -> FaultClient:
        """A client with the settings' chaos token and default TTL (GAMEDAY_FAULT_TTL_S)."""
        token = settings.chaos_token.get_secret_value() if settings.chaos_token else None
        return cls(urls, token, settings.fault_ttl_s)

    def __init__(
        self,
        urls: StackUrls,
        token: str | None = None,
        default_ttl_s: float = DEFAULT_FAULT_TTL_S,
        *,
        timeout_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = urls
        self.default_ttl_s = default_ttl_s
        headers = {"X-Chaos-Token": token} if token else None
        self._http = client(timeout_s=timeout_s, transport=transport, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, replica: str) -> str:
        replica = str(replica)
        if replica not in REPLICAS or int(replica) > len(self.urls.inventory):
            raise FaultControlError(
                f"unknown replica {replica!r}: allowed {', '.join(REPLICAS)}",
                transient=False, replica=replica,
            )
        return f"{self.urls.replica(replica)}/inject-failure"

    def _post(self, replica: str, body: Mapping[str, Any], *, crash: bool = False) -> dict:
        url = self._url(replica)
        what = f"{body.get('type')} on replica {replica}"
        try:
            resp = self._http.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            err = classify(exc)
            if crash and err in ("protocol", "network"):
                return {"message": "connection closed: the replica crashed", "assumed": True,
                        "failure_injected": True, "failure_type": "crash"}
            raise FaultControlError(
                f"cannot set {what}: {err} at {url} ({exc.__class__.__name__}); "
                "the replica may be down or restarting",
                transient=is_transient(err), replica=replica, error_class=err,
            ) from exc
        return self._answer(resp, what, replica)

    def _answer(self, resp: httpx.Response, what: str, replica: str) -> dict:
        body = json_or_none(resp)
        if resp.status_code == 200 and isinstance(body, dict):
            return body
        if isinstance(body, dict):
            detail = body.get("error") or body.get("message") or body.get("detail") or body
        else:
            detail = resp.text[:200]
        if resp.status_code == 401:
            msg = (f"replica {replica} refused {what} (HTTP 401): the chaos token is missing "
                   "or wrong; set GAMEDAY_CHAOS_TOKEN to the stack's CHAOS_TOKEN")
        else:
            msg = f"replica {replica} refused {what} (HTTP {resp.status_code}): {detail}"
        err = classify(resp) or "bad_body"
        raise FaultControlError(msg, transient=is_transient(err), replica=replica,
                                status=resp.status_code, error_class=err)

    def inject(
        self,
        replica: str,
        fault: Fault | Mapping[str, Any],
        *,
        ttl_s: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Clear ``replica``, then set ``fault`` on it with ``ttl_s`` (default: the fault's
        own, else ``default_ttl_s``). Returns the replica's answer. Raises FaultControlError.
        """
        ftype: str
        if isinstance(fault, Fault):
            ftype, params, own_ttl = fault.type, fault.params(), fault.ttl_s
        else:
            f = dict(fault)
            ftype, own_ttl = str(f.pop("type")), f.pop("ttl_s", None)
            f.pop("replica", None)
            params = f
        body: dict[str, Any] = {"type": ftype, **params}
        body["ttl_s"] = ttl_s or own_ttl or self.default_ttl_s
        if seed is not None:
            body["seed"] = seed
        self.clear(replica)
        return self._post(replica, body, crash=ftype == "crash")

    def clear(self, replica: str) -> dict[str, Any]:
        """Remove every fault from ``replica`` ("already clear" is success).

        Raises FaultControlError (transient when the replica is unreachable)."""
        return self._post(replica, {"type": "clear"})

    def current(self, replica: str) -> dict[str, Any]:
        """The fault now in force on ``replica`` (``GET /inject-failure``)."""
        url = self._url(replica)
        try:
            resp = self._http.get(url)
        except httpx.HTTPError as exc:
            err = classify(exc)
            raise FaultControlError(
                f"cannot read the fault of replica {replica}: {err} at {url}",
                transient=is_transient(err), replica=replica, error_class=err,
            ) from exc
        return self._answer(resp, "a fault read", replica)

    def clear_all(self) -> dict[str, str]:
        """Best effort: clear every replica; ``{replica: "cleared" | "failed: <reason>"}``.
        Never raises for one replica's failure."""
        out: dict[str, str] = {}
        for i in range(1, len(self.urls.inventory) + 1):
            try:
                self.clear(str(i))
                out[str(i)] = "cleared"
            except FaultError as exc:
                out[str(i)] = f"failed: {exc}"
        return out
