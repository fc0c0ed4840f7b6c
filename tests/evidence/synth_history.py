"""Synthetic run histories with known truth, for the trends' false-positive and power tests.

The run-to-run spread of each fault phase's TTD follows what BENCHMARKS.md measured over
10 injections each (min/median/max): crash 0.28/0.30/0.33 s, latency 0.36/0.50/0.51 s,
intermittent 0.21/0.58/1.06 s, incorrect response 0.05/0.09/0.31 s, drawn lognormal with
those medians and spreads. TTR is 0 in half the runs (the replica was back before the
rollback), else a few hundred ms. Availability: 1,000 requests a phase with a failure
share that itself varies from run to run (beta-binomial: failures come in bursts). The
score is 100 unless a check failed (in 1 run of 8 it loses one or two).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: fault phase → (median TTD s, lognormal σ of TTD run to run)
TTD = {"crash": (0.30, 0.06), "latency": (0.50, 0.12), "intermittent": (0.58, 0.40),
       "incorrect_response": (0.09, 0.55)}


def history(rng: np.random.Generator, runs: int = 12, *, shift: dict[str, float] | None = None,
            shifted_runs: int = 5) -> pd.DataFrame:
    """One history in the shape of ``gameday.report.trend_table``; ``shift`` multiplies
    the TTD of the named fault phases in the last ``shifted_runs`` runs."""
    shift = shift or {}
    start = pd.Timestamp("2026-11-01T00:00:00Z")
    rows = []
    for r in range(runs):
        base = {"run_id": f"run-{r:02d}", "start": start + pd.Timedelta(days=r),
                "runbook": "standard"}
        late = r >= runs - shifted_runs
        for fault, (median, sigma) in TTD.items():
            ttd = rng.lognormal(np.log(median), sigma) * (shift.get(fault, 1.0) if late else 1)
            ttr = 0.0 if rng.random() < 0.5 else rng.lognormal(np.log(0.3), 0.3)
            p_fail = rng.beta(0.5, 999.5)  # mean 0.05 %, bursty
            failures = rng.binomial(1000, p_fail)
            phase = {**base, "phase": fault, "fault": fault}
            rows += [{**phase, "metric": "ttd_s", "value": ttd},
                     {**phase, "metric": "ttr_s", "value": ttr},
                     {**phase, "metric": "availability", "value": 1 - failures / 1000,
                      "requests": 1000}]
        score = 100.0 if rng.random() < 7 / 8 else float(rng.choice([93.3, 86.7]))
        rows.append({**base, "phase": "(run)", "fault": "", "metric": "score", "value": score})
    return pd.DataFrame(rows)


#: The rule the trends page used before (median of previous runs + 25 %), kept here only to
#: measure it on the same histories: metric → (badness, floor).
_OLD = {"ttd_s": (lambda v: v, 0.05), "ttr_s": (lambda v: v, 0.05),
        "availability": (lambda v: 1.0 - v, 0.0005), "score": (lambda v: 100.0 - v, 2.0)}


def old_rule_flags(df: pd.DataFrame, margin: float = 0.25, last: int | None = None) -> int:
    """How many values the median + 25 % rule flagged (in the last ``last`` runs)."""
    df = df.sort_values(["start", "run_id"])
    flags = 0
    for (_, metric), g in df.groupby(["phase", "metric"]):
        badness, floor = _OLD[metric]
        values = g["value"].to_numpy(dtype=float)
        first = len(values) - last if last else 1
        for i in range(max(1, first), len(values)):
            median = float(np.median(values[:i]))
            flags += bool(badness(values[i]) > (1 + margin) * badness(median) + floor)
    return flags
