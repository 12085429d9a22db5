"""`oospath import batches`, `oospath report periodic|start-review|list` and the periodic-review demo.

REQ: OOS-20 (import, report files), OOS-21, OOS-22, OOS-23 (the demo runs the review to its end).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.bootstrap import bootstrap
from engine.settings import Settings
from oospath.cli import main
from oospath.review_demo import seed_products
from tests.integration.test_periodic_review_data import dataset, lims_csv


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A migrated SQLite installation with the demo products; the CLI reads it from the environment."""
    monkeypatch.delenv("OOSPATH_REVIEW_CONFIG", raising=False)
    monkeypatch.delenv("OOSPATH_REVIEW_CYCLE", raising=False)
    var = tmp_path / "var"
    url = f"sqlite:///{var / 'oospath.db'}"
    app = bootstrap(Settings(var_dir=var, database_url=url))
    seed_products(app)
    app.db.dispose()
    return {"OOSPATH_VAR_DIR": str(var), "OOSPATH_DATABASE_URL": url}


def test_import_reports_each_bad_row_by_line_and_field_and_imports_nothing(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    # REQ: OOS-20
    export = tmp_path / "lims.csv"
    export.write_text("batch_id,product_code,decided_at,status,viability\n"
                      "A-1,CART19-AUTH,2026-02-01T10:00:00Z,released,91.0\n"
                      "A-2,CART19-AUTH,2026-02-02T10:00:00Z,released,seventy\n")
    result = CliRunner().invoke(main, ["import", "batches", str(export)], env=env)
    assert result.exit_code == 1
    assert "nothing was imported" in result.output and "line 3, field viability: 'seventy' is not a number" in (
        result.output)
    export.write_text("batch_id,product_code,decided_at,status,viability\n"
                      "A-1,CART19-AUTH,2026-02-01T10:00:00Z,released,91.0\n")
    result = CliRunner().invoke(main, ["import", "batches", str(export)], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 1 batches of CART19-AUTH" in result.output


def test_report_periodic_writes_the_four_files_and_prints_their_paths(env: dict[str, str], tmp_path: Path) -> None:
    # REQ: OOS-20, OOS-21
    export = tmp_path / "lims.csv"
    export.write_bytes(lims_csv(dataset()))
    assert CliRunner().invoke(main, ["import", "batches", str(export)], env=env).exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "periodic", "--product", "CART19-AUTH", "--from", "2026-01-01",
                                       "--to", "2026-06-30", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.output.splitlines() if line.startswith("/")]
    assert sorted(p.name for p in paths) == sorted([
        "periodic-review-CART19-AUTH-2026-H1.html", "periodic-review-CART19-AUTH-2026-H1.pdf",
        "periodic-review-CART19-AUTH-2026-H1.json", "annex-CART19-AUTH-2026-H1.csv"])
    assert all(p.parent == out.resolve() and p.stat().st_size > 0 for p in paths)
    listed = CliRunner().invoke(main, ["report", "list"], env=env)
    assert "2026-H1" in listed.output
    refused = CliRunner().invoke(main, ["report", "periodic", "--product", "CART19-AUTH", "--from", "2026-01-01",
                                        "--to", "2099-06-30"], env=env)
    assert refused.exit_code == 1 and "has not ended yet" in refused.output
    assert CliRunner().invoke(main, ["deploy"], env=env).exit_code == 0
    started = CliRunner().invoke(main, ["report", "start-review", "--product", "CART19-AUTH", "--from", "2026-01-01",
                                        "--to", "2026-06-30"], env=env)
    assert started.exit_code == 0 and "periodic review" in started.output and "started" in started.output


def test_the_periodic_review_demo_runs_the_review_to_its_end(tmp_path: Path) -> None:
    # REQ: OOS-20, OOS-21, OOS-22, OOS-23
    result = CliRunner().invoke(main, ["demo", "--scenario", "periodic-review", "--var-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "completed at review_closed" in result.output
    assert "open_capa" in result.output and "management_review" in result.output
    for name in ("periodic-review-CART19-AUTH-", "annex-CART19-AUTH-"):
        assert name in result.output
    printed = [Path(line) for line in result.output.splitlines() if line.startswith("/")]
    assert len(printed) == 4 and all(p.exists() for p in printed)
