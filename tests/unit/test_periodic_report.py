"""The periodic review report: provenance, renderers and the synthetic CAR-T dataset (OOS-20, OOS-21, OOS-23)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from pathlib import Path

import pytest

from engine.domain import catalogue as cat
from engine.domain.specifications import specification_in_force
from engine.domain.trends import BatchOutcome, OosCategory, TrendError
from engine.reporting import (
    PeriodicReport,
    build_periodic_report,
    dataset_sha256,
    periodic,
    render_csv_annex,
    render_html,
    render_json,
    render_pdf,
    report_from_json,
)
from engine.reporting.charts import control_chart_png, oos_rate_png
from engine.reporting.pdf_report import reportlab_available
from engine.reporting.synthetic import generate_dataset, sample_periods, sample_report

GENERATED_AT = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)
VCN = cat.VECTOR_COPY_NUMBER


@pytest.fixture(scope="module")
def report() -> PeriodicReport:
    """Two years of CART19-AUTH, vector copy number drifting in 2026-H1."""
    return sample_report(7, generated_at=GENERATED_AT)


@pytest.fixture(scope="module")
def html(report: PeriodicReport) -> str:
    return render_html(report)


def pdf_pages(path: Path) -> int:
    """Page objects in an uncompressed-xref PDF (ReportLab and matplotlib both write them plainly)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes()))


# --- synthetic dataset ---------------------------------------------------------------------------------------------


def test_the_synthetic_dataset_is_deterministic_for_a_seed() -> None:
    # REQ: OOS-20
    assert generate_dataset(7) == generate_dataset(7)
    assert generate_dataset(7) != generate_dataset(8)


def test_the_synthetic_dataset_looks_like_two_years_of_car_t_batches(report: PeriodicReport) -> None:
    # REQ: OOS-20, OOS-21
    batches = report.batches
    per_month: dict[tuple[int, int], int] = {}
    for batch in batches:
        key = (batch.decided_at.year, batch.decided_at.month)
        per_month[key] = per_month.get(key, 0) + 1
    assert len(per_month) == 24
    assert all(15 <= n <= 25 for n in per_month.values())
    viability_oos = [b for b in batches if cat.VIABILITY in b.failed_attributes]
    assert viability_oos and all(b.results[cat.VIABILITY] < 80 for b in viability_oos)
    assert {b.status for b in viability_oos} == {"oos_administered", "oos_not_administered"}
    sterility = [b for b in batches if cat.STERILITY in b.failed_attributes]
    assert [b.status for b in sterility] == ["oos_not_administered"]
    assert all(b.status == "released" or b.oos_categories for b in batches)


def test_the_injected_drift_is_flagged(report: PeriodicReport) -> None:
    # REQ: OOS-21, OOS-23 — vector copy number creeps up by 1.1 over 2026-H1
    chart = next(c for c in report.analysis.charts if c.attribute == VCN)
    rules = {v.rule for v in chart.current_violations}
    assert {"WE1", "WE2", "WE4"} <= rules
    signal = next(s for s in report.signals if s.kind == "control_rule" and s.attribute == VCN)
    assert "N2" in signal.detail and "WE4" not in signal.detail  # WE4 is charted, N2 (Nelson 2) opens signals
    assert signal.requirement == "OOS-23"
    capability = next(c for c in report.analysis.capabilities if c.attribute == VCN)
    assert capability.ppk is not None and capability.ppk < 1.0  # the drift widens the overall spread
    assert any(s.kind == "low_capability" and s.attribute == VCN for s in report.signals)


def test_without_the_drift_the_same_data_shows_no_capability_problem() -> None:
    # REQ: OOS-21
    stable = sample_report(7, generated_at=GENERATED_AT, drift=0.0)
    capability = next(c for c in stable.analysis.capabilities if c.attribute == VCN)
    assert capability.ppk is not None and capability.ppk > 1.5
    chart = next(c for c in stable.analysis.charts if c.attribute == VCN)
    assert len(chart.current_violations) < 5
    assert not any(s.kind == "low_capability" for s in stable.signals)


# --- provenance ----------------------------------------------------------------------------------------------------


def one_batch(**changes: object) -> BatchOutcome:
    fields = {
        "batch_id": "CART19-26-0001",
        "product_code": cat.CART19_AUTH,
        "decided_at": datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        "status": "oos_administered",
        "results": {cat.VIABILITY: 76.5, cat.CAR_T_DOSE: 2.0},
        "oos_categories": (OosCategory("below lower limit", cat.VIABILITY, "minor"),),
    }
    fields.update(changes)
    return BatchOutcome(**fields)  # type: ignore[arg-type]


def test_dataset_hash_is_sha256_of_the_canonical_rows() -> None:
    # REQ: OOS-20 — the hash proves which data the report was computed from
    canonical = (
        '[{"batch_id":"CART19-26-0001","decided_at":"2026-01-05T10:00:00+00:00",'
        '"oos_categories":[["below lower limit","viability","minor"]],"product_code":"CART19-AUTH",'
        '"results":{"car_t_dose":2.0,"viability":76.5},"status":"oos_administered"}]'
    )
    assert dataset_sha256([one_batch()]) == hashlib.sha256(canonical.encode()).hexdigest()


def test_dataset_hash_ignores_order_and_time_zone_but_not_values() -> None:
    # REQ: OOS-20
    batches = generate_dataset(3, months=2)
    reference = dataset_sha256(batches)
    assert dataset_sha256(list(reversed(batches))) == reference
    cet = timezone(timedelta(hours=1))
    shifted = [one_batch(decided_at=datetime(2026, 1, 5, 11, 0, tzinfo=cet))]
    assert dataset_sha256(shifted) == dataset_sha256([one_batch()])
    assert dataset_sha256([one_batch(results={cat.VIABILITY: 76.4, cat.CAR_T_DOSE: 2.0})]) != dataset_sha256(
        [one_batch()]
    )


def test_software_version_falls_back_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise periodic.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(periodic.metadata, "version", missing)
    assert periodic.software_version() == "0+unknown"


def test_report_metadata(report: PeriodicReport) -> None:
    # REQ: OOS-20, OOS-21
    assert report.period.label == "2026-H1"
    assert report.specification_version == 2
    assert report.dataset_sha256 == dataset_sha256(report.batches)
    assert report.software_version == periodic.software_version()
    assert "released to specification" in report.comparator_selection
    assert "2026-H1" in report.comparator_selection


def test_a_naive_generation_time_is_refused() -> None:
    periods = sample_periods(months=12)
    spec = specification_in_force(cat.specifications_for(cat.CART19_AUTH), periods[-1].start)
    with pytest.raises(TrendError, match="timezone-aware"):
        build_periodic_report([], spec, periods, product_name="x", generated_at=datetime(2026, 1, 1))


# --- renderers -----------------------------------------------------------------------------------------------------


def test_html_states_period_comparators_hash_and_version(report: PeriodicReport, html: str) -> None:
    # REQ: OOS-20, OOS-21
    assert html.startswith("<!DOCTYPE html>")
    assert "2026-H1" in html
    assert escape(report.comparator_selection) in html
    assert report.dataset_sha256 in html
    assert f"oospath {report.software_version}" in html


def test_html_is_self_contained_with_the_charts_inline(report: PeriodicReport, html: str) -> None:
    # REQ: OOS-21
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)
    assert len(images) == 1 + len(report.analysis.charts)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html


def test_html_shows_categories_and_signals_with_the_rule_named(report: PeriodicReport, html: str) -> None:
    # REQ: OOS-21, OOS-23
    assert "below lower limit" in html and "result not accepted" in html and "critical" in html
    assert 'class="signal"' in html
    assert "N2 (nine consecutive points on the same side of the centre line (Nelson rule 2))" in html
    assert "Fisher" in html and "Clopper" in html


def test_html_escapes_texts_from_the_data() -> None:
    # REQ: OOS-21
    small = sample_report(5, generated_at=GENERATED_AT, months=12)
    custom = build_periodic_report(
        small.batches,
        specification_in_force(cat.specifications_for(cat.CART19_AUTH), small.period.start),
        small.analysis.periods,
        product_name="<b>demo</b>",
        generated_at=GENERATED_AT,
        comparator_selection="All released batches <script>alert(1)</script> of the period",
    )
    page = render_html(custom)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;demo&lt;/b&gt;" in page


@pytest.mark.parametrize("backend", ["auto", "matplotlib"])
def test_pdf_is_written_with_several_pages(report: PeriodicReport, tmp_path: Path, backend: str) -> None:
    # REQ: OOS-20 — "auto" is ReportLab when installed, matplotlib's PdfPages otherwise
    path = tmp_path / "review.pdf"
    used = render_pdf(report, path, backend=backend)  # type: ignore[arg-type]
    assert used == ("reportlab" if backend == "auto" and reportlab_available() else "matplotlib")
    assert path.read_bytes().startswith(b"%PDF")
    assert pdf_pages(path) >= 2


def test_json_round_trips_to_the_same_report(report: PeriodicReport) -> None:
    # REQ: OOS-20
    text = render_json(report)
    document = json.loads(text)
    assert document["format"] == "oospath-periodic-review" and document["format_version"] == 2
    assert document["report"]["dataset_sha256"] == report.dataset_sha256
    assert document["report"]["analysis"]["counts"][-1]["oos_rate"] == report.analysis.current_counts.oos_rate
    assert report_from_json(text) == report


def test_json_of_another_format_is_refused() -> None:
    with pytest.raises(TrendError, match="not an oospath-periodic-review"):
        report_from_json('{"format": "something-else", "format_version": 1, "report": {}}')


def test_csv_annex_has_one_row_per_batch(report: PeriodicReport) -> None:
    # REQ: OOS-20, OOS-21
    rows = list(csv.DictReader(io.StringIO(render_csv_annex(report))))
    assert len(rows) == len(report.batches)
    assert {row["period"] for row in rows} == {"2024-H2", "2025-H1", "2025-H2", "2026-H1"}
    by_id = {row["batch_id"]: row for row in rows}
    for batch in report.batches:
        row = by_id[batch.batch_id]
        assert row["status"] == batch.status
        assert float(row[VCN]) == batch.results[VCN]
    sterility = next(b for b in report.batches if cat.STERILITY in b.failed_attributes)
    assert by_id[sterility.batch_id]["oos_categories"] == "result not accepted / sterility / critical"


def test_batches_outside_the_periods_stay_in_the_annex_but_not_in_the_statistics() -> None:
    # REQ: OOS-20
    periods = sample_periods(months=12)
    batches = generate_dataset(4, months=12)
    late = one_batch(batch_id="CART19-LATE", decided_at=periods[-1].end + timedelta(days=3))
    spec = specification_in_force(cat.specifications_for(cat.CART19_AUTH), periods[-1].start)
    built = build_periodic_report([*batches, late], spec, periods, product_name="demo", generated_at=GENERATED_AT)
    assert [b.batch_id for b in built.batches_outside_periods] == ["CART19-LATE"]
    assert sum(c.total for c in built.analysis.counts) == len(batches)
    row = next(r for r in csv.DictReader(io.StringIO(render_csv_annex(built))) if r["batch_id"] == "CART19-LATE")
    assert row["period"] == ""


def test_charts_are_png(report: PeriodicReport) -> None:
    # REQ: OOS-21
    assert control_chart_png(report.analysis.charts[0], current=report.period).startswith(b"\x89PNG\r\n\x1a\n")
    assert oos_rate_png(report.analysis.counts).startswith(b"\x89PNG\r\n\x1a\n")
