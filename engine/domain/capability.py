"""Process capability and the near-limit share of a review period (OOS-21 "specification appropriateness").

Statistical choices:

* **Capability** of the current period's released batches against the
  specification given: Cpk uses σ within = MR̄ / d2 (results in time order),
  Ppk the overall sample standard deviation (n − 1). With one limit only the
  one-sided index (Cpl or Cpu) is used.
* **Near-limit share**: the share of released batches whose result lies within
  a band next to a limit; many batches just inside a limit mean the
  specification is met only narrowly. The band is measured against the
  specification's width or the process's own spread, never against the size of
  the limit's value (a viability limit of 80 % would otherwise get an 8-point
  band, reaching a capable process's mean):

  - two-sided limit: ``near_limit_fraction`` × (upper − lower), a fraction of
    the tolerance width;
  - one-sided limit, which has no tolerance width: ``near_limit_sigmas`` × σ
    within of the period, i.e. results within k·σ of the limit. Without a σ
    (fewer than two results, or no variation) the band is 0.

  A result on the wrong side of the limit counts as near it.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from engine.domain.batch_outcomes import TrendError
from engine.domain.control_rules import D2


@dataclass(frozen=True)
class Capability:
    """Process capability of one attribute in the current period against the specification (OOS-21).

    Indices are None when they cannot be computed (fewer than two values, or no
    variation). ``near_limit_band`` is the width of the band next to a limit.
    """

    attribute: str
    unit: str | None
    lower_spec: float | None
    upper_spec: float | None
    n: int
    mean: float | None
    sigma_within: float | None
    sigma_overall: float | None
    cpk: float | None
    ppk: float | None
    near_limit_band: float
    near_limit_count: int

    @property
    def near_limit_share(self) -> float | None:
        return self.near_limit_count / self.n if self.n else None


def capability_index(mean: float, sigma: float | None, lower: float | None, upper: float | None) -> float | None:
    """min((USL − μ), (μ − LSL)) / 3σ over the limits that exist (one-sided when only one)."""
    if sigma is None or sigma == 0:
        return None
    return min(distances_inside(mean, lower, upper)) / (3 * sigma)


def distances_inside(value: float, lower: float | None, upper: float | None) -> list[float]:
    """Signed distance from ``value`` to each limit that exists, positive on the passing side."""
    return [
        d
        for d in ((value - lower) if lower is not None else None, (upper - value) if upper is not None else None)
        if d is not None
    ]


def near_limit_band(
    lower: float | None, upper: float | None, *, fraction: float, sigmas: float, sigma_within: float | None
) -> float:
    """Width of the near-limit band: ``fraction`` × tolerance width, or ``sigmas`` × σ within when one-sided."""
    if lower is not None and upper is not None:
        return fraction * (upper - lower)
    if lower is None and upper is None:
        raise TrendError("a near-limit band needs at least one limit")
    return sigmas * sigma_within if sigma_within else 0.0


def capability(
    attribute: str,
    values: Sequence[float],
    *,
    lower: float | None,
    upper: float | None,
    unit: str | None = None,
    near_limit_fraction: float = 0.10,
    near_limit_sigmas: float = 1.0,
) -> Capability:
    """Cpk (σ within = MR̄/d2, values in time order) and Ppk (sample σ) with the near-limit count."""
    if lower is None and upper is None:
        raise TrendError(f"{attribute}: capability needs at least one specification limit")
    n = len(values)
    mean = statistics.fmean(values) if values else None
    sigma_within = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values)) / D2 if n >= 2 else None
    sigma_overall = statistics.stdev(values) if n >= 2 else None
    band = near_limit_band(lower, upper, fraction=near_limit_fraction, sigmas=near_limit_sigmas,
                           sigma_within=sigma_within)
    near = sum(min(distances_inside(v, lower, upper)) <= band for v in values)
    if mean is None or n < 2:
        return Capability(attribute, unit, lower, upper, n, mean, None, None, None, None, band, near)
    return Capability(
        attribute,
        unit,
        lower,
        upper,
        n,
        mean,
        sigma_within,
        sigma_overall,
        capability_index(mean, sigma_within, lower, upper),
        capability_index(mean, sigma_overall, lower, upper),
        band,
        near,
    )


__all__ = ["Capability", "capability", "capability_index", "distances_inside", "near_limit_band"]
