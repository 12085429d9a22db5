"""The periodic review as one self-contained HTML page (OOS-20, OOS-21, OOS-23).

Why self-contained: the page is archived with the Quality Defect Report and
opened years later, possibly offline, so the charts are inline PNG (base64
``data:`` URIs), the style sheet is inline and nothing is fetched from
anywhere. Every text taken from the data is HTML-escaped.

Section order follows what OOS-21 asks the review to show: provenance and
comparator selection, counts and rates (OOS-20), how OOS cases are
categorised, the escalation signals (OOS-23), control charts (drift),
repeat failures, specification appropriateness, and the method.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from engine.domain.trends import RULE_DESCRIPTIONS, ControlChart, PeriodCounts, Thresholds
from engine.reporting.charts import ReportCharts, report_charts
from engine.reporting.periodic import PeriodicReport

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 13px; color: #222; margin: 2em auto; }
body { max-width: 1100px; }
h1 { font-size: 20px; margin-bottom: 0.2em; } h2 { font-size: 16px; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
h3 { font-size: 14px; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f0f0f0; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta td:first-child { font-weight: bold; background: #fafafa; } .hash { font-family: monospace; font-size: 12px; }
.signal { background: #fdecea; } .ok { color: #2e7d32; } .note { color: #555; font-size: 12px; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.4em 0; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _sig(value: float | None) -> str:
    """Four significant digits: enough for a mean or σ next to its limit, short enough for a table cell."""
    return "–" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _ci(interval: tuple[float, float] | None) -> str:
    return "–" if interval is None else f"{100 * interval[0]:.1f}–{100 * interval[1]:.1f} %"


def _limit(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    numeric_columns = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric_columns else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def counts_rows(counts: Sequence[PeriodCounts]) -> list[list[str]]:
    """Rows of the counts-and-rates table (escaped text), shared with the PDF renderer."""
    return [
        [
            _e(c.period.label),
            str(c.released),
            str(c.oos_administered),
            str(c.oos_not_administered),
            str(c.total),
            _pct(c.oos_rate),
            _ci(c.oos_rate_ci),
            _pct(c.administered_oos_rate),
            _ci(c.administered_oos_rate_ci),
        ]
        for c in counts
    ]


COUNTS_HEADERS = (
    "period",
    "released to specification",
    "OOS administered",
    "OOS not administered",
    "total",
    "OOS rate",
    "CI",
    "administered-OOS rate",
    "CI",
)


def rate_comparison_text(report: PeriodicReport) -> str:
    """One sentence on the Fisher test of the current OOS rate against the baseline (plain text)."""
    comparison = report.analysis.rate_comparison
    alpha = report.analysis.thresholds.alpha
    if comparison is None:
        return "No rate comparison: the current period or the baseline has no batches."
    verdict = "a significant increase" if comparison.p_value_greater < alpha else "no significant increase"
    odds = "undefined" if comparison.odds_ratio is None else f"{comparison.odds_ratio:.2f}"
    return (
        f"Current period {report.period.label}: {comparison.current_oos}/{comparison.current_total} OOS "
        f"({_pct(comparison.current_rate)}); baseline pooled: {comparison.baseline_oos}/{comparison.baseline_total} "
        f"({_pct(comparison.baseline_rate)}). Fisher's exact test: one-sided p (increase) = "
        f"{comparison.p_value_greater:.4f}, two-sided p = {comparison.p_value_two_sided:.4f}, odds ratio {odds}: "
        f"{verdict} at α = {alpha:g}."
    )


def method_notes(thresholds: Thresholds) -> list[str]:
    """The statistical choices, stated in the report so a reader need not look at the code (plain text)."""
    return [
        "A batch belongs to the period containing its release or exceptional-use decision; periods are half-open.",
        "OOS rate = OOS batches (administered or not) / (OOS batches + batches released to specification). "
        "Administered-OOS rate = OOS batches administered / (OOS batches administered + batches released).",
        f"Rate intervals: Clopper–Pearson exact, {100 * thresholds.confidence_level:g} % confidence.",
        "Rate comparison: Fisher's exact test, current period against the baseline periods pooled; the signal uses "
        f"the one-sided p-value for an increase (α = {thresholds.alpha:g}), the two-sided p-value is for information.",
        "Control charts: individuals / moving range on released batches in decision order. Limits from the "
        "baseline periods: centre = mean, σ = mean moving range / 1.128, limits = centre ± 3σ, MR UCL = 3.267 × "
        f"mean moving range; applied to the current period. At least {thresholds.min_baseline_points} baseline "
        "results are required for limits.",
        "Run rules: " + "; ".join(f"{code}: {text}" for code, text in RULE_DESCRIPTIONS.items()) + ". A pattern is "
        "reported at the point completing it, which for the zone rules must itself be beyond the zone; points of a "
        "reported window are not reused for the same rule. Nelson rules 1, 5 and 6 are WE1, WE2 and WE3. "
        "Rules opening signals: "
        + ", ".join(thresholds.control_rules)
        + f", when an attribute has at least {thresholds.min_rule_events} of their events within "
        f"{thresholds.rule_events_window} consecutive released batches of the period.",
        "Capability in the current period against the specification in force: Cpk with σ within = mean moving "
        "range / 1.128, Ppk with the overall sample standard deviation; one-sided when only one limit exists. "
        f"Signal when Cpk < {thresholds.min_cpk:g} or Ppk < {thresholds.min_ppk:g} with at least "
        f"{thresholds.min_capability_points} results.",
        f"Near-limit share: results within {100 * thresholds.near_limit_fraction:g} % of the tolerance width of a "
        f"limit (one-sided limits: within {thresholds.near_limit_sigmas:g} σ within of the limit); signal above "
        f"{100 * thresholds.near_limit_share:g} %.",
        f"Repeat failures: an attribute failing in at least {thresholds.repeat_failures} OOS batches of the period, "
        f"or in each of the last {thresholds.repeat_consecutive_periods} consecutive periods.",
    ]


def _categories_table(report: PeriodicReport) -> str:
    periods = report.analysis.periods
    categories = sorted({c.category for c in report.analysis.categories})
    if not categories:
        return '<p class="ok">No OOS batches in the review periods.</p>'
    counts = {(c.period, c.category): c for c in report.analysis.categories}
    rows = []
    for category in categories:
        cells = [_e(category.type), _e(category.attribute), _e(category.severity)]
        for period in periods:
            item = counts.get((period, category))
            cells.append("0" if item is None else f"{item.total} ({item.administered} adm.)")
        rows.append(cells)
    headers = ["type", "attribute", "severity", *(p.label for p in periods)]
    return _table(headers, rows, numeric=range(3, 3 + len(periods)))


def _current_oos_table(report: PeriodicReport) -> str:
    rows = [
        [
            _e(b.batch_id),
            _e(b.decided_at.strftime("%Y-%m-%d")),
            _e(b.status.replace("_", " ")),
            "<br>".join(_e(f"{c.type} / {c.attribute} / {c.severity}") for c in b.oos_categories),
        ]
        for b in report.batches
        if b.is_oos and report.period.contains(b.decided_at)
    ]
    if not rows:
        return f'<p class="ok">No OOS batch in {_e(report.period.label)}.</p>'
    return _table(["batch", "decided", "status", "categories (type / attribute / severity)"], rows)


def _signals(report: PeriodicReport) -> str:
    if not report.signals:
        return '<p class="ok">No signal: nothing in this period requires CAPA or management review (OOS-23).</p>'
    rows = [
        [_e(s.kind), _e(s.attribute or "all"), _e(s.detail), _e(" + ".join(s.opens)), _e(s.requirement)]
        for s in report.signals
    ]
    return _table(["signal", "attribute", "detail (rule named)", "opens", "requirement"], rows).replace(
        "<tr><td>", '<tr class="signal"><td>'
    )


RULE_SUMMARY_HEADERS = ("rule", "meaning", "events", "first at batch", "last at batch")


def rule_summary_rows(chart: ControlChart) -> list[list[str]]:
    """Per rule: how often it fired in the current period and where first and last (escaped text)."""
    rows = []
    for rule, description in RULE_DESCRIPTIONS.items():
        events = [v for v in chart.current_violations if v.rule == rule]
        if events:
            rows.append([_e(rule), _e(description), str(len(events)), _e(events[0].batch_id), _e(events[-1].batch_id)])
    return rows


def _charts(report: PeriodicReport, images: ReportCharts) -> str:
    parts = []
    for chart, (_, png) in zip(report.analysis.charts, images.controls, strict=True):
        parts.append(f"<h3>{_e(chart.attribute)}</h3>")
        parts.append(_img(png, f"I-MR control chart of {chart.attribute}"))
        if chart.limits is not None:
            limits = chart.limits
            parts.append(
                f'<p class="note">Baseline n = {limits.baseline_points}; centre {limits.centre:.4g}, '
                f"σ {limits.sigma:.4g}, LCL {limits.lcl:.4g}, UCL {limits.ucl:.4g}, mean MR {limits.mr_bar:.4g}, "
                f"MR UCL {limits.mr_ucl:.4g}.</p>"
            )
        else:
            parts.append(f'<p class="note">{_e(chart.note)}</p>')
        events = chart.current_violations
        if events:
            parts.append(_table(RULE_SUMMARY_HEADERS, rule_summary_rows(chart), numeric=[2]))
            rows = [[_e(v.rule), _e(v.batch_id), str(v.index), _e(v.detail)] for v in events]
            parts.append(
                f"<details><summary>All {len(events)} rule events in {_e(report.period.label)}</summary>"
                + _table(["rule", "batch", "point", "detail"], rows, numeric=[2])
                + "</details>"
            )
        elif chart.limits is not None:
            parts.append(f'<p class="ok">No rule fired in {_e(report.period.label)}.</p>')
    return "".join(parts)


def _repeats(report: PeriodicReport) -> str:
    if not report.analysis.repeat_failures:
        return '<p class="ok">No repeat failure.</p>'
    rows = [
        [
            _e(r.attribute),
            _e(r.scope.replace("_", " ")),
            _e(", ".join(p.label for p in r.periods)),
            str(r.count),
            _e(", ".join(r.batch_ids)),
        ]
        for r in report.analysis.repeat_failures
    ]
    return _table(["attribute", "scope", "periods", "OOS batches", "batches"], rows, numeric=[3])


def capability_rows(report: PeriodicReport) -> list[list[str]]:
    """Rows of the capability table (escaped text), shared with the PDF renderer."""
    rows = []
    for c in report.analysis.capabilities:
        rows.append(
            [
                _e(c.attribute),
                _e(c.unit or ""),
                _limit(c.lower_spec),
                _limit(c.upper_spec),
                str(c.n),
                _sig(c.mean),
                _sig(c.sigma_within),
                _sig(c.sigma_overall),
                _num(c.cpk, 2),
                _num(c.ppk, 2),
                f"{c.near_limit_band:.4g}",
                _pct(c.near_limit_share),
            ]
        )
    return rows


CAPABILITY_HEADERS = (
    "attribute",
    "unit",
    "LSL",
    "USL",
    "n",
    "mean",
    "σ within",
    "σ overall",
    "Cpk",
    "Ppk",
    "near-limit band",
    "near-limit share",
)


def render_html(report: PeriodicReport, charts: ReportCharts | None = None) -> str:
    """The whole report as one HTML document (UTF-8 text) with inline charts (``charts``: already drawn)."""
    analysis = report.analysis
    meta = [
        ["Product", _e(f"{report.product_name} ({report.product_code})")],
        [
            "Review period",
            _e(
                f"{report.period.label} ({report.period.start.isoformat()} to "
                f"{report.period.end.isoformat()}, end exclusive)"
            ),
        ],
        ["Periods analysed", _e(", ".join(p.label for p in analysis.periods))],
        ["Specification", _e(f"{report.product_code} v{report.specification_version}")],
        ["Input batches", _e(report.input_description())],
        ["Dataset SHA-256", f'<span class="hash">{_e(report.dataset_sha256)}</span>'],
        ["Software", _e(f"oospath {report.software_version}")],
        ["Generated at", _e(report.generated_at.isoformat())],
        ["Requirements", "OOS-20 (six-monthly QDR), OOS-21 (content of the review), OOS-23 (escalation)"],
    ]
    meta_rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in meta)
    images = charts or report_charts(report)
    sections = [
        f"<h1>{_e(report.title)}</h1>",
        f'<table class="meta">{meta_rows}</table>',
        "<h2>1. Comparator selection</h2>",
        f"<p>{_e(report.comparator_selection)}</p>",
        "<h2>2. OOS batches administered versus batches released to specification (OOS-20)</h2>",
        _table(COUNTS_HEADERS, counts_rows(analysis.counts), numeric=range(1, 9)),
        f"<p>{_e(rate_comparison_text(report))}</p>",
        _img(images.rate, "OOS rate by period with confidence intervals"),
        "<h2>3. OOS cases by type, attribute and severity (OOS-21)</h2>",
        _categories_table(report),
        f"<h3>OOS batches in {_e(report.period.label)}</h3>",
        _current_oos_table(report),
        "<h2>4. Signals: CAPA and management review (OOS-23)</h2>",
        _signals(report),
        "<h2>5. Process consistency and drift: control charts (OOS-21)</h2>",
        _charts(report, images),
        "<h2>6. Repeat failures (OOS-21, OOS-23)</h2>",
        _repeats(report),
        "<h2>7. Specification appropriateness: capability and near-limit results (OOS-21)</h2>",
        _table(CAPABILITY_HEADERS, capability_rows(report), numeric=range(2, 12)),
        "<h2>8. Method</h2>",
        "<ul>" + "".join(f"<li>{_e(note)}</li>" for note in method_notes(analysis.thresholds)) + "</ul>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(report.title)}: {_e(report.product_code)} {_e(report.period.label)}</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


__all__ = [
    "CAPABILITY_HEADERS",
    "COUNTS_HEADERS",
    "RULE_SUMMARY_HEADERS",
    "capability_rows",
    "counts_rows",
    "method_notes",
    "rate_comparison_text",
    "render_html",
    "rule_summary_rows",
]
