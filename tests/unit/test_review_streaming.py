"""Big periodic reviews: decimated charts, the JSON written as it is produced, the dataset hash row by row.

A review of one product with 200,000 batches in its periods must stay exact where it is data (the JSON
reads back to the same report, the dataset hash is the hash of the canonical rows) and draw only what a
chart can show (per pixel column the lowest and highest point, every rule-flagged point kept).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain import catalogue as cat
from engine.domain.specifications import specification_in_force
from engine.domain.trends import ChartSeries, chart_of_series
from engine.reporting import build_periodic_report, render_json, report_from_json, write_json
from engine.reporting.charts import control_chart_png, display_indexes
from engine.reporting.periodic import PeriodicReport, canonical_row_json
from engine.reporting.synthetic import generate_dataset, sample_periods

GENERATED_AT = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def report() -> PeriodicReport:
    periods = sample_periods(months=12)
    spec = specification_in_force(cat.specifications_for(cat.CART19_AUTH), periods[-1].start)
    return build_periodic_report(generate_dataset(4, months=12), spec, periods, product_name="demo",
                                 generated_at=GENERATED_AT)


def big_series(n: int = 100_000, seed: int = 3) -> ChartSeries:
    rng = np.random.default_rng(seed)
    times = np.datetime64("2024-07-01T00:00:00", "us") + np.sort(
        rng.integers(0, 2 * 365 * 86_400 * 10**6, n)).astype("timedelta64[us]")
    return ChartSeries.of([f"B{i:07d}" for i in range(n)], times, rng.normal(10.0, 1.0, n), 3 * n // 4)


def test_a_large_series_is_drawn_through_its_envelope_and_every_flagged_point() -> None:
    # REQ: OOS-21 — per pixel column the lowest and highest value; rule-flagged points are never dropped
    series = big_series()
    times = series.decided_at.astype(np.int64)
    flagged = [5, 777, 50_001, 74_999, 99_998]
    shown = display_indexes(times, series.values, columns=1000, start=0, end=len(series), keep=flagged)
    assert len(shown) <= 2 * 1000 + len(flagged) + 2 < len(series) / 20
    assert set(flagged) <= set(shown.tolist()) and np.all(np.diff(shown) > 0)
    column = (times - times[0]) * 1000 // (int(times[-1]) - int(times[0]) + 1)
    for pixel in (0, 313, 999):
        inside = np.flatnonzero(column == pixel)
        values = series.values[inside]
        assert inside[np.argmin(values)] in shown and inside[np.argmax(values)] in shown


def test_a_small_series_is_drawn_whole() -> None:
    # REQ: OOS-21 — charts of ordinary reviews are unchanged: every point is drawn
    series = big_series(n=500)
    shown = display_indexes(series.decided_at.astype(np.int64), series.values, columns=1000, start=0, end=500)
    assert shown.tolist() == list(range(500))


def test_a_chart_of_a_hundred_thousand_points_renders() -> None:
    # REQ: OOS-21
    chart = chart_of_series("viability", big_series(), unit="%", lower_spec=5.0, upper_spec=15.0)
    assert chart.limits is not None and chart.violations
    assert control_chart_png(chart, dpi=60).startswith(b"\x89PNG")


class Pieces(io.BytesIO):
    """A binary stream that counts the writes it receives."""

    writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


def test_the_json_is_written_in_pieces_and_reads_back_to_the_same_report(
        report: PeriodicReport, monkeypatch: pytest.MonkeyPatch) -> None:
    # REQ: OOS-20 — streamed (no one document in memory), still exact
    from engine.reporting import json_report

    monkeypatch.setattr(json_report, "FLUSH_CHARACTERS", 4096)
    out = Pieces()
    size = write_json(report, out)
    assert out.writes > 3 and size == len(out.getvalue())
    document = json.loads(out.getvalue())
    assert document["format_version"] == 2
    chart = document["report"]["analysis"]["charts"][0]
    assert set(chart["series"]) == {"batch_ids", "decided_at", "first_current", "values"}
    assert report_from_json(out.getvalue()) == report


def test_a_version_1_document_with_point_objects_still_reads(report: PeriodicReport) -> None:
    # REQ: OOS-20 — reports kept before the columns keep their meaning
    document = json.loads(render_json(report))
    document["format_version"] = 1
    for chart in document["report"]["analysis"]["charts"]:
        series = chart.pop("series")
        first = series["first_current"]
        chart["points"] = [{"batch_id": b, "decided_at": t.replace("Z", "+00:00"), "value": v, "in_current": i >= first}
                           for i, (b, t, v) in enumerate(zip(series["batch_ids"], series["decided_at"],
                                                             series["values"], strict=True))]
    assert report_from_json(json.dumps(document)) == report


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
rows = st.fixed_dictionaries({
    "batch_id": texts, "decided_at": texts, "product_code": texts, "status": texts,
    "results": st.dictionaries(texts, st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10, 10),
                               max_size=6),
    "oos_categories": st.lists(st.lists(texts, min_size=3, max_size=3), max_size=2),
})


@settings(max_examples=300, deadline=None)
@given(row=rows)
def test_a_dataset_row_is_hashed_as_its_canonical_json(row: dict) -> None:  # type: ignore[type-arg]
    # REQ: OOS-20 — the fast row encoding is exactly json.dumps(row, sort_keys=True, compact), so the hash holds
    expected = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert canonical_row_json(row) == expected
