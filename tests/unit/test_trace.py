"""`oospath trace`: requirement IDs to BPMN/DMN elements and tests, on a fake repo and on this one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from oospath import trace
from oospath.trace import build_trace, citations, format_trace, missing

REPO = Path(__file__).resolve().parents[2]
# Built by concatenation so this file's own fixtures are never read as citations of the real repo.
REQ = "# " + "REQ:"

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" name="Pathway" isExecutable="true">
    <bpmn:documentation>OOS-01..OOS-03: the whole pathway.</bpmn:documentation>
    <bpmn:startEvent id="start" name="OOS confirmed">
      <bpmn:documentation>OOS-01: a confirmed OOS opens the case.</bpmn:documentation>
    </bpmn:startEvent>
    <bpmn:userTask id="request" name="Physician request">
      <bpmn:documentation>OOS-03, OOS-06: request; OOS-2026-0001 is no ID.</bpmn:documentation>
    </bpmn:userTask>
    <bpmn:task id="typo" name="Typo"><bpmn:documentation>OOS-99 typo</bpmn:documentation></bpmn:task>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dd" name="t" namespace="x">
  <decision id="parties" name="Notified parties">
    <description>OOS-12: MAH and SA informed.</description>
  </decision>
</definitions>
"""

TEST_FILE = f'''"""Module docstring.

REQ: OOS-02
"""
{REQ} OOS-07 module-level comment


def test_one():
    {REQ} OOS-01, OOS-06 (two IDs)
    assert True


def test_two():
    """Docstring line.

    {REQ} OOS-12
    """
    text = "{REQ} OOS-05 inside a string is not a citation"
    assert text


class TestGroup:
    def test_method(self):
        x = 1  {REQ} OOS-03
        assert x
'''


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "case.bpmn").write_text(BPMN, encoding="utf-8")
    (tmp_path / "processes" / "parties.dmn").write_text(DMN, encoding="utf-8")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_fake.py").write_text(TEST_FILE, encoding="utf-8")
    return tmp_path


def test_citations_expand_ranges_and_ignore_case_references():
    found = citations("OOS-04, OOS-01..OOS-03 and case OOS-2026-0001; OOS-02 again")
    assert [(c.id, c.via_range) for c in found] == [
        ("OOS-04", False), ("OOS-01", True), ("OOS-02", False), ("OOS-03", True)]


def test_elements_are_found_with_file_id_name_and_kind(fake_repo):
    report = build_trace(fake_repo)
    refs = {(e.file, e.element_id, e.element_name, e.kind, e.via_range) for e in report.trace_of("OOS-01").elements}
    assert refs == {
        ("processes/case.bpmn", "p", "Pathway", "process", True),
        ("processes/case.bpmn", "start", "OOS confirmed", "startEvent", False),
    }
    [dmn] = report.trace_of("OOS-12").elements
    assert (dmn.file, dmn.element_id, dmn.kind) == ("processes/parties.dmn", "parties", "decision")


def test_tests_are_found_with_the_function_that_holds_the_comment(fake_repo):
    report = build_trace(fake_repo)

    def tests_of(rid: str) -> set[str]:
        return {t.test for t in report.trace_of(rid).tests}

    assert tests_of("OOS-01") == {"test_one"} and tests_of("OOS-06") == {"test_one"}
    assert tests_of("OOS-07") == {"<module>"}
    assert tests_of("OOS-02") == {"<module>"}  # module docstring line
    assert tests_of("OOS-12") == {"test_two"}  # function docstring line
    assert tests_of("OOS-03") == {"TestGroup::test_method"}
    assert tests_of("OOS-05") == set()  # a string literal is not a citation
    assert report.trace_of("OOS-01").tests[0].file == "tests/unit/test_fake.py"


def test_unknown_ids_are_reported_with_their_place(fake_repo):
    report = build_trace(fake_repo)
    assert [(u.id, u.where) for u in report.unknown] == [("OOS-99", "processes/case.bpmn#typo")]


def test_missing_lists_ids_without_a_specific_element_or_a_test(fake_repo):
    report = build_trace(fake_repo)
    gaps = missing(report)
    # OOS-01, 03, 06, 12 have both; OOS-02 has only a range element; OOS-07 only a test.
    assert "OOS-01" not in gaps and "OOS-03" not in gaps and "OOS-06" not in gaps and "OOS-12" not in gaps
    assert "OOS-02" in gaps and "OOS-07" in gaps
    assert gaps == [r.id for r in trace.REQUIREMENTS if r.section in "ABCDE" and r.id not in
                    {"OOS-01", "OOS-03", "OOS-06", "OOS-12"}]
    assert missing(report, sections="FG") == [f"OOS-{n}" for n in range(20, 26)]


def test_format_shows_one_block_per_requirement_and_the_gaps(fake_repo):
    text = format_trace(build_trace(fake_repo))
    assert "== A. Entry conditions and decision ==" in text
    assert "OOS-01  A case starts only from a batch outside the specification version in force  [ok]" in text
    assert "processes/case.bpmn#start (OOS confirmed) [startEvent]" in text
    assert "processes/case.bpmn#p (Pathway) [process] (range only)" in text
    assert "tests/unit/test_fake.py::test_one (line 9)" in text
    assert "OOS-02  " in text and "[MISSING element]" in text
    assert "Unknown IDs cited: OOS-99 at processes/case.bpmn#typo" in text
    assert text.count("\nOOS-") + text.startswith("OOS-") == len(trace.REQUIREMENTS)


def test_main_returns_1_while_something_is_missing(fake_repo):
    out = io.StringIO()
    assert trace.main(fake_repo, out=out) == 1
    assert "Missing (A, B, C, D, E):" in out.getvalue()


def test_main_returns_0_when_every_pathway_requirement_is_covered(tmp_path):
    ids = [r.id for r in trace.REQUIREMENTS if r.section in "ABCDE"]
    docs = "".join(f'<bpmn:task id="t{n}"><bpmn:documentation>{i}</bpmn:documentation></bpmn:task>'
                   for n, i in enumerate(ids))
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "p.bpmn").write_text(
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
        f'<bpmn:process id="p">{docs}</bpmn:process></bpmn:definitions>', encoding="utf-8")
    (tmp_path / "tests").mkdir()
    source = f"def test_all():\n    {REQ} {' '.join(ids)}\n    pass\n"
    (tmp_path / "tests" / "test_all.py").write_text(source, encoding="utf-8")
    out = io.StringIO()
    assert trace.main(tmp_path, out=out) == 0, out.getvalue()
    assert "Missing (A, B, C, D, E): none" in out.getvalue()


def test_xml_entities_are_not_expanded_and_doctype_is_refused(tmp_path):
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "evil.bpmn").write_text(
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<d><task id="t"><documentation>&x; OOS-01</documentation></task></d>', encoding="utf-8")
    report = build_trace(tmp_path)
    assert report.trace_of("OOS-01").elements == ()
    assert report.problems and "evil.bpmn" in report.problems[0]


def test_unreadable_test_files_are_reported_not_fatal(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_broken.py").write_text("def broken(:\n", encoding="utf-8")
    report = build_trace(tmp_path)
    assert report.problems and "tests/test_broken.py" in report.problems[0]


def test_catalogue_has_25_requirements_in_sections_a_to_g():
    assert [r.id for r in trace.REQUIREMENTS] == [f"OOS-{n:02d}" for n in range(1, 26)]
    assert {r.section for r in trace.REQUIREMENTS} == set(trace.SECTIONS) == set("ABCDEFG")
    assert [r.id for r in trace.REQUIREMENTS if r.section in "ABCDE"][-1] == "OOS-19"


def test_real_repo_trace_reports_current_gaps(capsys):
    # INFORMATIONAL, NOT A GATE: runs the trace on this repository and prints which A-E
    # requirements still lack an element or a test. It deliberately does not assert that
    # none are missing; the lead closes the gaps and then `oospath trace` becomes the gate.
    report = build_trace(REPO)
    gaps = missing(report)
    with capsys.disabled():
        print(f"\n[trace, informational] A-E requirements missing an element or a test: {gaps or 'none'}")
        if report.unknown:
            print("[trace, informational] unknown IDs cited:", [(u.id, u.where) for u in report.unknown])
    assert len(report.traces) == len(trace.REQUIREMENTS)
    assert report.problems == ()
