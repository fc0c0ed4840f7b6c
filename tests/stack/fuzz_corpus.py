"""The fuzz suite's cases: every endpoint of every service, with hostile input by category.

Each :class:`Case` is one raw HTTP request. Categories name what is hostile about it (NUL,
control characters, CR/LF, huge numbers, NaN/Infinity, deep nesting, lone surrogates,
invalid UTF-8, huge bodies, wrong types, wrong methods, malformed HTTP, ...). The fixed
values below cover each category on purpose; :func:`cases` adds seeded random
combinations (a hostile value in a random field of a random endpoint) on top, so a
given seed always gives the same few hundred requests per service.

No case is a valid request that changes state: order bodies name an unknown product,
fault bodies carry one invalid field (or no token), reports name an unknown replica or
are harmless (an ``incorrect_response`` report is confirmed by reads and dropped).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Case", "cases", "UNKNOWN_PRODUCT"]

UNKNOWN_PRODUCT = "FUZZ-NOPE"


@dataclass(frozen=True)
class Case:
    service: str  # "inventory" | "orders" | "monitor" | "voter"
    category: str
    method: str
    target: bytes  # the request-target, byte for byte
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    token: bool = False  # send the stack's X-Chaos-Token
    protocol: bool = False  # malformed HTTP: the server may close the connection
    fault: bool = False  # a POST /inject-failure: the replica's fault must not change

    def describe(self) -> str:
        body = "" if self.body is None else f" body={self.body[:80]!r}"
        return f"{self.service}/{self.category}: {self.method} {self.target[:100]!r}{body}"


#: Hostile path segments by category (percent-encoded as UTF-8 before sending).
IDS: dict[str, list[str]] = {
    "nul": ["\x00", "PROD-001\x00", "\x00PROD-001", "a\x00b\x00c"],
    "control": ["\x01", "\x1b[2J", "\x7f", "PROD\t001", "\x08\x0b\x0c"],
    "crlf": ["PROD-001\r\nX-Evil: 1", "\r\n", "\n", "\r", "a\r\n\r\nGET / HTTP/1.1"],
    "space": ["PROD 001", " ", "PROD-001 ", " PROD-001"],
    "hash-query": ["#", "PROD#001", "?", "PROD?x=1", "&a=b", "PROD-001#frag"],
    "unicode": ["é", "PROD-é", "日本語", "🦄", "\u202eLTR", "\u200b", "\ufeffPROD-001", "Ω≈ç√"],
    "long": ["A" * 1000, "A" * 8000, "é" * 2000],
    "traversal": ["..", "../../etc/passwd", "...", "."],
    "injection": ["' OR '1'='1", "1; DROP TABLE orders; --", "${jndi:ldap://x}",
                  "<script>alert(1)</script>", "%s%s%n"],
    "numeric": ["0", "-1", "1e308", "99999999999999999999999", "NaN", "Infinity"],
}
#: Already-encoded path segments: invalid UTF-8, overlong forms, a UTF-8 surrogate, stray %.
RAW_PERCENT = ["%FF", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%", "%2", "%%", "%zz",
               "%2F", "%5C", "%00", "%0D%0A", "%E9", "%25", "%FF%FE%00"]

DEEP = 100_000
HUGE_DIGITS = "1" + "0" * 5000
#: Whole bodies that are not a JSON object, or not JSON, or too big, or too deep.
BODIES: dict[str, list[bytes]] = {
    "not-json": [b"", b" ", b"{", b"}", b'{"a":', b"not json", b"{'a': 1}", b"\x00",
                 b"{}{}", b"\\", b"[1,]"],
    "json-not-object": [b"null", b"[]", b"[1,2]", b'"str"', b"123", b"true", b"-0", b"1e308"],
    "invalid-utf8": [b"\xff\xfe", b'{"a": "\xff"}', b'{"\xc3\x28": 1}', b"\xef\xbb\xbf{}",
                     b'{"a": "\xed\xa0\x80"}'],
    "deep-nesting": [b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP,
                     b"[" * 1000 + b"]" * 1000, b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
    "huge-body": [b'{"pad": "' + b"A" * (1 << 20) + b'"}', b"[" + b"1," * (5 << 20) + b"1]",
                  b'{"product_id": "FUZZ-NOPE", "quantity": 1, "type": "clear", "pad": "'
                  + b"A" * (10 << 20) + b'"}'],
}
#: Hostile JSON values (raw text: NaN and Infinity are not JSON but parsers accept them).
NUMBERS = ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e309", "2147483648",
           "9223372036854775808", "1" + "0" * 30, "-1", HUGE_DIGITS, "1e-400", "0.5",
           "123456789012345678901234567890.5"]
STRINGS = ['""', '"\\u0000"', '"PROD\\u0000-001"', '"\\ud800"', '"\\udfff"', '"\\ud83e x"',
           '"' + "A" * 100_000 + '"', '"\\r\\n"', '"\\u001b[2J"', '" "', '"NaN"', '"1"']
OTHERS = ["null", "true", "false", "[]", "{}", "[1]", '{"a": 1}', "[" * 500 + "]" * 500]
VALUE_CATEGORY = {**{v: "huge-numbers" for v in NUMBERS[3:10]},
                  **{v: "nan-infinity" for v in NUMBERS[:3]},
                  '"\\ud800"': "lone-surrogate", '"\\udfff"': "lone-surrogate",
                  '"\\ud83e x"': "lone-surrogate", '"\\u0000"': "nul",
                  '"PROD\\u0000-001"': "nul", HUGE_DIGITS: "huge-numbers"}

#: Per fault field: values that must be refused (any of them accepted changes the fault).
FAULT_BAD = {
    "latency_ms": ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e309", "-1", "-0.001",
                   "60001", "1e9", "2147483648", "9223372036854775808", "1" + "0" * 30,
                   HUGE_DIGITS, '"100"', "true", "null", "[]", "{}", '"NaN"'],
    "probability": ["NaN", "Infinity", "-Infinity", "1e308", "1e309", "-0.1", "1.1", "2",
                    '"0.5"', "true", "null", "[]", "{}"],
    "ttl_s": ["NaN", "Infinity", "-Infinity", "1e308", "1e309", "0", "-1", "1e-400",
              "86401", "1" + "0" * 30, '"5"', "true", "null", "[]", "{}"],
    "seed": ["1.5", "NaN", "Infinity", '"1"', "true", "[]", "{}", "1e308",
             "18446744073709551616", "1" + "0" * 30],
    "product_id": ['""', '"\\u0000"', '"\\ud800"', '"' + "P" * 10_000 + '"', "5", "null",
                   "[]", "{}", "true", '"\\r\\n"'],
    "type": ['"CRASH"', '"crash "', '" latency"', '"Latency"', '"clear\\u0000"', '"\\ud800"',
             '""', "null", "1", "[]", '{"type": "crash"}', '"' + "x" * 10_000 + '"', "true"],
}
FAULT_BASE = {"latency_ms": {"type": "latency", "latency_ms": 0},
              "probability": {"type": "intermittent", "probability": 0.0},
              "ttl_s": {"type": "latency", "latency_ms": 0},
              "seed": {"type": "intermittent", "probability": 0.0},
              "product_id": {"type": "incorrect_response", "product_id": UNKNOWN_PRODUCT},
              "type": {"latency_ms": 0}}
#: A crash fault with a broken TTL must be refused before anything happens (no crash).
CRASH_BAD_TTL = ["NaN", "Infinity", "-1", '"5"', "0", "1e309"]

QUERY_VALUES = {
    "minutes": ["nan", "NaN", "inf", "-inf", "infinity", "1e308", "1e309", "0", "-5", "abc", "",
                "1e-320", "99999999999", "1" + "0" * 400, "%00", "5%00", "0x10", "1_000",
                "%D9%A5", "5%20"],
    "since": ["", "yesterday", "%00", "2024-13-45", "9999-12-31T23:59:59",
              "0001-01-01", "0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00",
              "2024-01-01T00:00:00%2B25:00", "2024-01-01T25:00", "now", "-infinity",
              "A" * 2000, "%FF", "2024-01-01T00:00:00.0000000001", "%EF%BC%91970-01-01"],
}
JUNK_QUERY = [b"?a=%00", b"?%FF=%FF", b"?x=" + b"A" * 5000, b"?&&&==", b"?a=1&a=2&a[]=3",
              b"?%ED%A0%80=1"]


def _seg(value: str) -> bytes:
    return quote(value, safe="").encode()


def _obj(base: dict, field: str, raw: str) -> bytes:
    """``base`` as JSON with ``field`` set to the raw JSON text ``raw``."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items() if k != field]
    parts.append(f"{json.dumps(field)}: {raw}")
    return ("{" + ", ".join(parts) + "}").encode("utf-8", "surrogatepass")


def _value_cat(raw: str, default: str) -> str:
    return VALUE_CATEGORY.get(raw, default)


def _path_cases(service: str, prefix: bytes, suffix: bytes = b"", method: str = "GET",
                **kw) -> list[Case]:
    out = [Case(service, f"id-{cat}", method, prefix + _seg(v) + suffix, **kw)
           for cat, values in IDS.items() for v in values]
    out += [Case(service, "id-raw-percent", method, prefix + v.encode() + suffix, **kw)
            for v in RAW_PERCENT]
    return out


def _body_cases(service: str, method: str, target: bytes, **kw) -> list[Case]:
    return [Case(service, cat, method, target, body, **kw)
            for cat, bodies in BODIES.items() for body in bodies]


def _field_cases(service: str, target: bytes, base: dict, valid: tuple[str, ...] = (),
                 **kw) -> list[Case]:
    """``base`` with each field in turn set to each hostile value (except ``valid`` ones)."""
    out = []
    for field in base:
        for raw in [v for v in NUMBERS + STRINGS + OTHERS if v not in valid]:
            out.append(Case(service, _value_cat(raw, f"field-{field}"), "POST", target,
                            _obj(base, field, raw), **kw))
    return out


def _common(service: str, get_paths: list[bytes], other_methods: list[bytes]) -> list[Case]:
    out = [Case(service, "junk-query", "GET", p + q) for p in get_paths for q in JUNK_QUERY]
    out += [Case(service, "wrong-method", m, p) for p in other_methods
            for m in ("PUT", "DELETE", "PATCH", "OPTIONS")]
    out += [Case(service, "unknown-route", "GET", p) for p in
            (b"/nope", b"/inventory/a/b/c", b"//", b"/%00", b"/" + b"x" * 3000)]
    out += [Case(service, "headers", "GET", b"/health", headers=h) for h in (
        (("Accept", "*/*;q=NaN"),), tuple((f"X-H{i}", "v" * 100) for i in range(100)),
        (("X-Chaos-Token", "\xff\xfe"),), (("Content-Type", "\xe9"),), (("Host", "%00"),))]
    out += [Case(service, "malformed-http", "GET", t, protocol=True) for t in (
        b"/health\x00", b"/he alth", b"/health\xc3\xa9", b"health", b"/health HTTP/1.1\r\nX:")]
    out += [Case(service, "malformed-http", "GET", b"/health", headers=h, protocol=True)
            for h in ((("Content-Type", "\x00"),),
                      (("Content-Length", "0"), ("Transfer-Encoding", "identity")),
                      (("Content-Length", "abc"),), (("X", "a" * 100_000),))]
    return out


def _inventory() -> list[Case]:
    s = "inventory"
    out = _path_cases(s, b"/inventory/")
    out += _common(s, [b"/health", b"/inventory", b"/inventory/PROD-001", b"/inject-failure"],
                   [b"/inventory", b"/inventory/PROD-001", b"/health"])
    out += _body_cases(s, "POST", b"/inject-failure", token=True, fault=True)
    for field, values in FAULT_BAD.items():
        for raw in values:
            out.append(Case(s, _value_cat(raw, f"fault-{field}"), "POST", b"/inject-failure",
                            _obj(FAULT_BASE[field], field, raw), token=True, fault=True))
    out += [Case(s, "fault-crash-ttl", "POST", b"/inject-failure",
                 _obj({"type": "crash"}, "ttl_s", raw), token=True, fault=True)
            for raw in CRASH_BAD_TTL]
    out += [Case(s, "fault-no-token", "POST", b"/inject-failure", b'{"type": "crash"}',
                 headers=h, fault=True)
            for h in ((), (("X-Chaos-Token", "wrong"),), (("X-Chaos-Token", ""),),
                      (("X-Chaos-Token", "\xe9"),))]
    return out


def _orders() -> list[Case]:
    s = "orders"
    base = {"product_id": UNKNOWN_PRODUCT, "quantity": 1}
    out = _body_cases(s, "POST", b"/orders") + _field_cases(s, b"/orders", base)
    out += [Case(s, "content-type", "POST", b"/orders", _obj(base, "quantity", "1"),
                 headers=(("Content-Type", ct),)) for ct in
            ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
             "application/json; charset=latin-1", "application/json\xe9")]
    # On a real product: quantities beyond the bound must be refused before the database
    # (a valid-but-huge one would only be rejected by the replicas, never held).
    out += [Case(s, "quantity-range", "POST", b"/orders",
                 _obj({"product_id": "PROD-003"}, "quantity", raw))
            for raw in ("2147483648", "2147483647", "1000001", "1e308", "1" + "0" * 30,
                        "9223372036854775808", "NaN", "Infinity", "-Infinity", HUGE_DIGITS)]
    out += _path_cases(s, b"/orders/")
    out += _path_cases(s, b"/orders/", b"/cancel", method="POST")
    out += _common(s, [b"/health", b"/ledger", b"/orders/x"], [b"/orders", b"/ledger"])
    return out


def _monitor() -> list[Case]:
    s = "monitor"
    out = _path_cases(s, b"/status/inventory-svc/")
    out += _path_cases(s, b"/status/", b"/1")
    for name, values in QUERY_VALUES.items():
        route = b"/metrics" if name == "minutes" else b"/transitions"
        out += [Case(s, f"query-{name}", "GET", route + f"?{name}={v}".encode()) for v in values]
    bad_instance = {"instance_id": "9", "reason": "error"}
    out += _body_cases(s, "POST", b"/reports", token=True)
    # "1" would make a valid error report on replica 1 (a count toward OFF): left out.
    out += _field_cases(s, b"/reports", bad_instance, valid=('"1"',), token=True)
    # Valid or not, harmless: an incorrect_response report is confirmed by reads first.
    harmless = {"instance_id": "2", "reason": "incorrect_response", "product_id": "PROD-001"}
    out += [Case(s, "report-fields", "POST", b"/reports", _obj(harmless, f, raw), token=True)
            for f in ("product_id", "detail") for raw in STRINGS + OTHERS]
    out += [Case(s, "reports-no-token", "POST", b"/reports", _obj(bad_instance, "reason", '"x"'),
                 headers=h) for h in ((), (("X-Chaos-Token", "wrong"),))]
    out += _common(s, [b"/health", b"/status", b"/failures", b"/transitions", b"/metrics"],
                   [b"/status", b"/reports", b"/metrics"])
    return out


def _voter() -> list[Case]:
    s = "voter"
    out = _path_cases(s, b"/inventory/")
    out += _common(s, [b"/health", b"/inventory", b"/inventory/PROD-001", b"/voting-stats"],
                   [b"/inventory", b"/inventory/PROD-001", b"/voting-stats"])
    return out


BUILDERS = {"inventory": _inventory, "orders": _orders, "monitor": _monitor, "voter": _voter}


def cases(service: str, seed: int = 10, extra: int = 60) -> list[Case]:
    """Every fixed case of ``service`` plus ``extra`` seeded random mutants of them."""
    fixed = BUILDERS[service]()
    rng = random.Random(f"{service}-{seed}")
    pool = [c for c in fixed if not c.protocol and c.body is None and c.method == "GET"]
    mutants = []
    for _ in range(extra):
        c = rng.choice(pool)
        cat, values = rng.choice(list(IDS.items()))
        mutants.append(Case(service, f"random-{cat}", "GET",
                            c.target.split(b"?")[0].rstrip(b"/") + b"/" + _seg(rng.choice(values))
                            if rng.random() < 0.5 else
                            c.target + (b"&" if b"?" in c.target else b"?") + b"q=" +
                            _seg(rng.choice(values))))
    return fixed + mutants
