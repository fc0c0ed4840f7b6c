"""The one HTTP helper of the harness.

Every client has an explicit :class:`httpx.Timeout` and an injectable transport
(``httpx.MockTransport`` or ``httpx.ASGITransport`` in tests). :func:`classify` is the one
place that maps an outcome to an error class. httpx's exception tree, as far as it
matters here::

    httpx.HTTPError
     ├── httpx.TransportError
     │    ├── httpx.TimeoutException → "timeout"
     │    │    (ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout)
     │    ├── httpx.NetworkError
     │    │    ├── httpx.ConnectError → "connect"
     │    │    ├── httpx.ReadError / WriteError → "network"
     │    │    └── httpx.CloseError → "network"
     │    ├── httpx.ProtocolError → "protocol" (RemoteProtocolError: peer closed mid-answer)
     │    └── httpx.ProxyError / UnsupportedProtocol → "transport"
     ├── httpx.DecodingError → "protocol"
     └── httpx.HTTPStatusError → "http_4xx" / "http_5xx"
    ValueError (bad JSON body) → "bad_body"; anything else → "other"

The load generator sends with :mod:`gameday.wire` (httpx cost it 4–10× the CPU per
request, aiohttp its tail: BENCHMARKS.md), which reports its failures as httpx's
exception types and ``TimeoutError``, so they classify here too.

A :class:`httpx.Response` classifies as "" (success, 2xx/3xx), "http_4xx" or "http_5xx".
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

import httpx

__all__ = [
    "ERROR_CLASSES",
    "make_timeout",
    "client",
    "ssl_context",
    "classify_status",
    "classify",
    "is_transient",
]

ERROR_CLASSES: tuple[str, ...] = (
    "timeout",
    "connect",
    "network",
    "protocol",
    "transport",
    "http_4xx",
    "http_5xx",
    "bad_body",
    "other",
)


_SSL_CONTEXT: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """One shared TLS context: building one per client costs tens of ms (CA bundle)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def make_timeout(total_s: float, connect_s: float | None = None) -> httpx.Timeout:
    """An explicit timeout: ``total_s`` for read/write/pool, ``connect_s`` (≤ total) to connect."""
    return httpx.Timeout(total_s, connect=min(connect_s or total_s, total_s))


def client(
    base_url: str = "",
    *,
    timeout_s: float = 2.0,
    transport: httpx.BaseTransport | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """A synchronous client for probes and fault control. Caller closes it (``with``)."""
    return httpx.Client(
        base_url=base_url,
        timeout=make_timeout(timeout_s),
        transport=transport,
        headers=headers,
        verify=ssl_context(),
        trust_env=False,  # loopback only: never route through an environment proxy
    )


def classify_status(code: int) -> str:
    """The error class of an HTTP status code: "" (2xx/3xx), "http_4xx" or "http_5xx"."""
    if code >= 500:
        return "http_5xx"
    if code >= 400:
        return "http_4xx"
    return ""


def classify(outcome: BaseException | httpx.Response | None) -> str:
    """The error class of a response or exception; "" for a successful response or None."""
    if outcome is None:
        return ""
    if isinstance(outcome, httpx.Response):
        return classify_status(outcome.status_code)
    if isinstance(outcome, httpx.HTTPStatusError):
        return classify(outcome.response)
    if isinstance(outcome, httpx.TimeoutException):
        return "timeout"
    if isinstance(outcome, httpx.ConnectError):
        return "connect"
    if isinstance(outcome, httpx.NetworkError):
        return "network"
    if isinstance(outcome, (httpx.ProtocolError, httpx.DecodingError)):
        return "protocol"
    if isinstance(outcome, httpx.TransportError):
        return "transport"
    if isinstance(outcome, TimeoutError):
        return "timeout"
    if isinstance(outcome, ValueError):
        return "bad_body"
    return "other"


def is_transient(error_class: str) -> bool:
    """Whether retrying may help: timeouts, connection trouble and 5xx are transient."""
    return error_class in {"timeout", "connect", "network", "protocol", "http_5xx"}


def json_or_none(response: httpx.Response) -> Any:
    """The response's JSON body, or None when it has none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


__all__ += ["json_or_none", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
