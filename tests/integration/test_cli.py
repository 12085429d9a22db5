"""The `oospath` command: validate and demo, as a designer and a new user run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oospath.cli import main
from tests.conftest import AMQP_OFF, AMQP_URL, REPO

PROCESS_FILES = sorted(str(p) for p in (REPO / "processes").glob("*.bpmn")) + sorted(
    str(p) for p in (REPO / "processes").glob("*.dmn"))


def test_validate_accepts_the_shipped_processes() -> None:
    result = CliRunner().invoke(main, ["validate", *PROCESS_FILES])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_names_file_line_element_and_reason_of_a_broken_file(tmp_path: Path) -> None:
    source = (REPO / "processes" / "oos_case.bpmn").read_text()
    broken = tmp_path / "oos_case.bpmn"
    broken.write_text(source.replace('targetRef="investigate_oos"', 'targetRef="investigate_oos_missing"', 1))
    result = CliRunner().invoke(main, ["validate", str(broken), *PROCESS_FILES[1:]])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{broken}:") or first.startswith("oos_case.bpmn:"), first
    assert "investigate_oos_missing" in result.output


def test_validate_refuses_an_unsafe_script_naming_the_expression(tmp_path: Path) -> None:
    bad = tmp_path / "escape.bpmn"
    bad.write_text((REPO / "tests" / "fixtures" / "engine" / "approval.bpmn").read_text().replace(
        "stamped_by_version = 1", "x = ().__class__.__base__.__subclasses__()"))
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "approve.schema.json").write_text(
        (REPO / "tests" / "fixtures" / "engine" / "approve.schema.json").read_text())
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "stamp" in result.output and "__class__" in result.output


@pytest.mark.parametrize("scenario,outcome", [("authorised", "supplied"), ("clinical-trial", "supplied"),
                                              ("declined", "not_supplied")])
def test_demo_prints_a_closed_case(tmp_path: Path, scenario: str, outcome: str) -> None:
    result = CliRunner().invoke(main, ["demo", "--scenario", scenario, "--var-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "is closed" in result.output and f"outcome {outcome}" in result.output
    assert "audit-trail rows" in result.output


@pytest.mark.skipif(AMQP_OFF, reason="OOSPATH_TEST_AMQP_URL=off: in-process transport only")
def test_demo_through_rabbitmq_with_relay_and_workers_as_processes(tmp_path: Path) -> None:
    # REQ: OOS-13 (the same timeline through the real broker)
    result = CliRunner().invoke(main, ["demo", "--broker", "amqp", "--var-dir", str(tmp_path)],
                                env={"OOSPATH_AMQP_URL": AMQP_URL, "OOSPATH_AMQP_NAMESPACE": "oospath-test-demo"})
    assert result.exit_code == 0, result.output
    assert "is closed" in result.output and "within the 48 h deadline" in result.output
    assert {p.name for p in (tmp_path / "logs").iterdir()} >= {"relay.log", "notifications.log", "results.log"}
