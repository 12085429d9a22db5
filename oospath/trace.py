"""Requirement trace: which BPMN/DMN elements and which tests cite each requirement ID.

``oospath trace`` answers an auditor's question, "where is OOS-13 implemented and where
is it proven?", from the repository itself:

* **Elements**: every ``<documentation>`` of a BPMN element in ``processes/*.bpmn`` and
  every ``<description>`` of a DMN element in ``processes/*.dmn`` is read for IDs
  (``OOS-13``), and the element that owns it is reported (file, id, name, kind). XML is
  parsed without entity expansion, DTD loading or network access, because diagrams come
  from modelling tools and uploads.
* **Tests**: every ``# REQ: OOS-xx ...`` comment in ``tests/**/*.py`` (and every
  docstring line starting with ``REQ:`` or ``# REQ:``) names the IDs a test proves. The
  test reported is the innermost function containing the comment (``Class::method``
  inside a class), or ``<module>`` at module level. Comments are found with
  :mod:`tokenize`, so the text ``# REQ:`` inside a string literal (a test fixture) is
  not a citation.
* **Ranges** (``OOS-01..OOS-19`` on the process as a whole) are listed but marked, and
  do not count as coverage: a blanket citation on the pool says nothing about which
  step implements a rule.

The requirement catalogue (IDs, sections, short titles) is kept here rather than read
from the shared requirements file, so the trace runs from any checkout. Sections A-E
(OOS-01..OOS-19) are the pathway and must each have an element and a test;
:func:`missing` lists those that do not, and :func:`main` fails while the list is not
empty or an unknown ID is cited.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

from lxml import etree

# fmt: off
SECTIONS: dict[str, str] = {
    "A": "Entry conditions and decision",
    "B": "Qualified Person",
    "C": "Notifications and deadlines",
    "D": "Records",
    "E": "Patient and pharmacovigilance",
    "F": "Periodic review and trends",
    "G": "Quality system",
}
# fmt: on


@dataclass(frozen=True)
class Requirement:
    """One catalogue entry: ID, section letter and a short title (not the full text)."""

    id: str
    section: str
    title: str


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("OOS-01", "A", "A case starts only from a batch outside the specification version in force"),
    Requirement("OOS-02", "A", "Cell/tissue-based ATMPs only; an exception, with the reason recorded"),
    Requirement("OOS-03", "A", "Immediate significant hazard and no alternative, both attested by the physician"),
    Requirement("OOS-04", "A", "Physician told the batch is OOS (attributes, values, limits) before any request"),
    Requirement("OOS-05", "A", "Manufacturer investigates the OOS and evaluates risks as structured QRM"),
    Requirement("OOS-06", "A", "Supply only on the physician's recorded request after the risk evaluation"),
    Requirement("OOS-07", "A", "Physician may decline: no supply, disposition recorded"),
    Requirement("OOS-08", "B", "QP cannot certify an OOS batch; attempts refused and recorded"),
    Requirement("OOS-09", "B", "QP batch verifications and import procedures done before supply"),
    Requirement("OOS-10", "C", "First tasks: inform the physician and start the risk evaluation"),
    Requirement("OOS-11", "C", "Clinical trials: sponsor informed, sponsor notifies its competent authority"),
    Requirement("OOS-12", "C", "Authorised products: MAH and Supervisory Authority informed"),
    Requirement("OOS-13", "C", "Supervisory Authority notified within 48 h of supply; escalation, lateness flagged"),
    Requirement("OOS-14", "C", "NCA of each treating country asked, informed where required; answers reused"),
    Requirement("OOS-15", "C", "Written agreement between distinct legal entities decides who communicates"),
    Requirement("OOS-16", "D", "Minimum record set kept; a case cannot close while one is missing"),
    Requirement("OOS-17", "D", "Records traceable and tamper-evident, never deleted"),
    Requirement("OOS-18", "E", "Patient informed in lay language under national law; no responsibility shifted"),
    Requirement("OOS-19", "E", "PV and follow-up unchanged; dose linked to the OOS decision and PV reference"),
    Requirement("OOS-20", "F", "Six-monthly periodic review to EMA as a Quality Defect Report"),
    Requirement("OOS-21", "F", "Review shows consistency, specification fitness, trends, categories and CAPA triggers"),
    Requirement("OOS-22", "F", "CAT rapporteur questions and regulatory actions tracked to closure"),
    Requirement("OOS-23", "F", "Recurring OOS outcomes escalate: CAPA, changes, management review"),
    Requirement("OOS-24", "G", "Attributable, tamper-evident audit trail; signed regulatory decisions"),
    Requirement("OOS-25", "G", "Roles enforced per user and organisation"),
)
REQUIREMENT_IDS = frozenset(r.id for r in REQUIREMENTS)
MUST_COVER = "ABCDE"
_T = TypeVar("_T")

_CITATION = re.compile(r"\bOOS-(\d{2})(?:\s*(?:\.\.|–|—)\s*(?:OOS-)?(\d{2}))?\b")
_REQ_COMMENT = re.compile(r"^#\s*REQ:\s*(.*)$")
_REQ_DOC_LINE = re.compile(r"^\s*(?:#\s*)?REQ:\s*(.*)$")


@dataclass(frozen=True)
class Citation:
    """One ID found in a text; ``via_range`` when it only appears inside ``OOS-aa..OOS-bb``."""

    id: str
    via_range: bool = False


def citations(text: str) -> list[Citation]:
    """IDs cited in ``text``, ranges expanded (marked), each ID once, in order of first mention.

    A specific mention wins over a range that also covers the ID.
    """
    found: dict[str, bool] = {}
    for match in _CITATION.finditer(text):
        start, end = int(match.group(1)), match.group(2)
        if end is None:
            found[f"OOS-{start:02d}"] = False
            continue
        for number in range(start, int(end) + 1):
            found.setdefault(f"OOS-{number:02d}", True)
    return [Citation(id_, via_range) for id_, via_range in found.items()]


@dataclass(frozen=True)
class ElementRef:
    """A BPMN/DMN element whose documentation cites a requirement."""

    file: str
    element_id: str
    element_name: str
    kind: str
    via_range: bool = False


@dataclass(frozen=True)
class TestRef:
    """A test (``file::function`` or ``file::<module>``) whose ``REQ:`` comment cites a requirement."""

    __test__ = False  # not a pytest test class despite the name

    file: str
    test: str
    line: int
    via_range: bool = False


@dataclass(frozen=True)
class RequirementTrace:
    requirement: Requirement
    elements: tuple[ElementRef, ...] = ()
    tests: tuple[TestRef, ...] = ()

    @property
    def has_element(self) -> bool:
        """True when at least one element cites the ID itself (not only a range)."""
        return any(not e.via_range for e in self.elements)

    @property
    def has_test(self) -> bool:
        return any(not t.via_range for t in self.tests)


@dataclass(frozen=True)
class UnknownCitation:
    """An ID that is not in the catalogue (usually a typo), with where it was found."""

    id: str
    where: str


@dataclass(frozen=True)
class TraceReport:
    repo: Path
    traces: tuple[RequirementTrace, ...]
    unknown: tuple[UnknownCitation, ...] = ()
    problems: tuple[str, ...] = field(default=())

    def trace_of(self, requirement_id: str) -> RequirementTrace:
        for trace in self.traces:
            if trace.requirement.id == requirement_id:
                return trace
        raise KeyError(requirement_id)


# --- elements ---------------------------------------------------------------------------


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )


def _element_refs(path: Path, rel: str, doc_tag: str) -> Iterable[tuple[Citation, ElementRef]]:
    tree = etree.parse(str(path), _safe_parser())
    if tree.docinfo.doctype:
        raise ValueError("DOCTYPE declarations are not allowed")
    for node in tree.iter():
        if not isinstance(node.tag, str) or etree.QName(node).localname != doc_tag:
            continue
        owner = node.getparent()
        if owner is None:
            continue
        text = "".join(node.itertext())
        for citation in citations(text):
            yield citation, ElementRef(
                file=rel, element_id=owner.get("id") or "", element_name=owner.get("name") or "",
                kind=etree.QName(owner).localname, via_range=citation.via_range,
            )


def collect_elements(repo: Path) -> tuple[list[tuple[Citation, ElementRef]], list[str]]:
    """Citations from ``processes/*.bpmn`` documentation and ``processes/*.dmn`` descriptions."""
    found: list[tuple[Citation, ElementRef]] = []
    problems: list[str] = []
    processes = repo / "processes"
    files = sorted(processes.glob("*.bpmn")) + sorted(processes.glob("*.dmn")) if processes.is_dir() else []
    for path in files:
        rel = path.relative_to(repo).as_posix()
        tag = "documentation" if path.suffix == ".bpmn" else "description"
        try:
            found.extend(_element_refs(path, rel, tag))
        except (etree.XMLSyntaxError, ValueError, OSError) as exc:
            problems.append(f"{rel}: cannot read ({exc})")
    return found, problems


# --- tests ------------------------------------------------------------------------------


def _scopes(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, classes joined with ``::``."""
    scopes: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                scopes.append((first, child.end_lineno or child.lineno, name))
                visit(child, f"{name}::")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}::")

    visit(tree, "")
    return scopes


def _test_at(scopes: list[tuple[int, int, str]], line: int) -> str:
    """The innermost function containing ``line``, or ``<module>``."""
    containing = [s for s in scopes if s[0] <= line <= s[1]]
    return max(containing, key=lambda s: s[0])[2] if containing else "<module>"


def _req_lines(source: str, tree: ast.Module) -> Iterable[tuple[int, str]]:
    """(line, text after ``REQ:``) of every REQ comment and every REQ docstring line."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            match = _REQ_COMMENT.match(token.string)
            if match:
                yield token.start[0], match.group(1)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            for offset, text in enumerate(body[0].value.value.splitlines()):
                match = _REQ_DOC_LINE.match(text)
                if match:
                    yield body[0].lineno + offset, match.group(1)


def collect_tests(repo: Path) -> tuple[list[tuple[Citation, TestRef]], list[str]]:
    """Citations from ``REQ:`` comments and docstring lines in ``tests/**/*.py``."""
    found: list[tuple[Citation, TestRef]] = []
    problems: list[str] = []
    tests = repo / "tests"
    for path in sorted(tests.rglob("*.py")) if tests.is_dir() else []:
        rel = path.relative_to(repo).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=rel)
            lines = sorted(set(_req_lines(source, tree)))
        except (SyntaxError, UnicodeDecodeError, tokenize.TokenError, OSError) as exc:
            problems.append(f"{rel}: cannot read ({exc})")
            continue
        scopes = _scopes(tree)
        for line, text in lines:
            for citation in citations(text):
                found.append((citation, TestRef(rel, _test_at(scopes, line), line, citation.via_range)))
    return found, problems


# --- report -----------------------------------------------------------------------------


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def build_trace(repo: Path) -> TraceReport:
    """Trace every catalogue requirement to the elements and tests that cite it."""
    repo = Path(repo)
    elements, element_problems = collect_elements(repo)
    tests, test_problems = collect_tests(repo)
    unknown = [UnknownCitation(c.id, f"{e.file}#{e.element_id}") for c, e in elements if c.id not in REQUIREMENT_IDS]
    unknown += [UnknownCitation(c.id, f"{t.file}:{t.line}") for c, t in tests if c.id not in REQUIREMENT_IDS]
    traces = tuple(
        RequirementTrace(
            requirement=req,
            elements=_unique(e for c, e in elements if c.id == req.id),
            tests=_unique(t for c, t in tests if c.id == req.id),
        )
        for req in REQUIREMENTS
    )
    return TraceReport(repo, traces, _unique(unknown), tuple(element_problems + test_problems))


def missing(report: TraceReport, sections: str = MUST_COVER) -> list[str]:
    """IDs of the given sections lacking an element or a test that cites them specifically."""
    return [
        t.requirement.id for t in report.traces
        if t.requirement.section in sections and not (t.has_element and t.has_test)
    ]


def _element_line(e: ElementRef) -> str:
    name = f" ({e.element_name})" if e.element_name else ""
    return f"{e.file}#{e.element_id}{name} [{e.kind}]" + (" (range only)" if e.via_range else "")


def _test_line(t: TestRef) -> str:
    return f"{t.file}::{t.test} (line {t.line})" + (" (range only)" if t.via_range else "")


def format_trace(report: TraceReport, sections: str = MUST_COVER) -> str:
    """A readable trace: one block per requirement, then what is missing."""
    out: list[str] = []
    current = ""
    for trace in report.traces:
        req = trace.requirement
        if req.section != current:
            current = req.section
            out.append(f"== {current}. {SECTIONS[current]} ==")
        gaps = [what for what, ok in (("element", trace.has_element), ("test", trace.has_test)) if not ok]
        status = "ok" if not gaps else "MISSING " + " and ".join(gaps)
        if req.section not in sections and gaps:
            status = "not yet covered (not required)"
        out.append(f"{req.id}  {req.title}  [{status}]")
        out.extend(_block("elements", [_element_line(e) for e in trace.elements]))
        out.extend(_block("tests", [_test_line(t) for t in trace.tests]))
        out.append("")
    gaps = missing(report, sections)
    out.append(f"Missing ({', '.join(sections)}): {', '.join(gaps) if gaps else 'none'}")
    if report.unknown:
        out.append("Unknown IDs cited: " + ", ".join(f"{u.id} at {u.where}" for u in report.unknown))
    for problem in report.problems:
        out.append(f"Problem: {problem}")
    return "\n".join(out)


def _block(label: str, lines: list[str]) -> list[str]:
    if not lines:
        return [f"    {label + ':':<10}-"]
    return [f"    {(label + ':') if i == 0 else '':<10}{line}" for i, line in enumerate(lines)]


def main(repo: Path | str | None = None, *, sections: str = MUST_COVER, out: TextIO | None = None) -> int:
    """Print the trace; 0 when every requirement of ``sections`` is covered and no unknown ID is cited."""
    root = Path(repo) if repo is not None else Path(__file__).resolve().parents[1]
    report = build_trace(root)
    print(format_trace(report, sections), file=out or sys.stdout)
    return 1 if missing(report, sections) or report.unknown or report.problems else 0


__all__ = [
    "MUST_COVER",
    "REQUIREMENTS",
    "REQUIREMENT_IDS",
    "SECTIONS",
    "Citation",
    "ElementRef",
    "Requirement",
    "RequirementTrace",
    "TestRef",
    "TraceReport",
    "UnknownCitation",
    "build_trace",
    "citations",
    "collect_elements",
    "collect_tests",
    "format_trace",
    "main",
    "missing",
]
