"""Results with evidence: the statistics behind repeated trials and trends, as pure functions.

- :mod:`gameday.evidence.intervals`: a rate's Wilson interval, a percentile's bootstrap
  interval resampling whole trials.
- :mod:`gameday.evidence.verdicts`: pass / fail / inconclusive against a target, with how
  many more trials would likely settle an inconclusive one.
- :mod:`gameday.evidence.twosample`: is B worse than A? A shift test for times (TTD, TTR),
  an overdispersed counts test for availability, Benjamini–Hochberg across many cells.
- :mod:`gameday.evidence.trends`: those tests applied to the runs kept in ``reports/``.

Nothing here reads files or the clock: data in, typed results out (docs/statistics.md).
"""
