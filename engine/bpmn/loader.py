"""The hardened loader behind deploy, ``oospath validate`` and the API's validation: one code path.

Diagrams are uploaded by people, so a bundle is treated as hostile until proven
otherwise. Loading is staged and each stage reports all of its problems at once; a later
stage runs only on a clean earlier one, because its errors would mostly be echoes:

1. read and validate files (:mod:`engine.bpmn.bundle_files`: safe XML, BPMN 2.0 schema,
   constructs the engine would mishandle, adaptations for other tools' diagrams);
2. parse and build the executable processes with :class:`OospathParser` (library errors
   become designer-facing problems, :mod:`engine.bpmn.diagnostics`);
3. check what was built: every expression (:mod:`engine.bpmn.expression_checks`), forms;
4. for deploy and validate alike (:func:`examine_deployable`): the bundle has an executable
   process and passes the deploy checks of :mod:`engine.bpmn.deploy_checks`.

Deploy (:func:`load_deployable`) and validation (:func:`validate_files`, behind ``oospath
validate`` and ``POST /api/v1/process-definitions/validation``) both call
:func:`examine_deployable`, so validation says "ok" only for what deploy accepts, and
refuses with the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.bpmn.bundle_files import read_inputs
from engine.bpmn.catalogue import ElementInfo, catalogue, form_problems, process_names
from engine.bpmn.diagnostics import guarded
from engine.bpmn.documents import NS, Document, Inputs
from engine.bpmn.errors import BpmnLoadError, BpmnProblem, BpmnWarning
from engine.bpmn.expression_checks import (
    dmn_problems,
    normalise_decision_cells,
    spec_expression_problems,
    unique_specs,
)
from engine.bpmn.parser import OospathParser
from engine.bpmn.xml_safety import max_file_bytes, parse_xml, raise_if, size_reason, stored_text

__all__ = [
    "BpmnLoadError", "BpmnProblem", "BpmnWarning", "ElementInfo", "LoadedBundle", "Validation",
    "examine_deployable", "load_bundle", "load_deployable", "max_file_bytes", "parse_xml", "validate_bundle",
    "validate_files", "validate_paths",
]


@dataclass
class LoadedBundle:
    """Everything a deployment needs from a bundle that passed every check."""

    specs: dict[str, BpmnProcessSpec]
    subprocess_specs: dict[str, dict[str, Any]]
    elements: dict[str, dict[str, ElementInfo]]
    forms: dict[str, dict[str, Any]]
    decisions: list[str]
    process_names: dict[str, str]
    warnings: list[BpmnWarning] = field(default_factory=list)
    no_process: list[BpmnProblem] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict, repr=False)


@dataclass
class Validation:
    """What ``oospath validate`` reports: refusals (deploy would refuse) and warnings (deploy accepts)."""

    problems: list[BpmnProblem]
    warnings: list[BpmnWarning]


# ---------------------------------------------------------------------------- public API


def load_bundle(files: Mapping[str, bytes]) -> LoadedBundle:
    """Validate, parse and build a bundle of ``.bpmn``, ``.dmn`` and ``.json`` form files.

    Raises :class:`BpmnLoadError` listing every problem; never any other exception.
    Only processes with ``isExecutable="true"`` are built.
    """
    inputs = read_inputs(files)
    parser = _parse(inputs)
    specs, subprocess_specs = _build_specs(parser, inputs)
    elements = {
        process_id: info
        for document in inputs.bpmn.values()
        for process_id, info in catalogue(document).items()
    }
    built = unique_specs(specs, subprocess_specs)
    problems = [
        *form_problems(inputs, elements),
        *spec_expression_problems(built, inputs),
        *dmn_problems(parser, inputs),
    ]
    raise_if(problems)
    for spec in built:
        normalise_decision_cells(spec)
    return LoadedBundle(
        specs=specs,
        subprocess_specs=subprocess_specs,
        elements=elements,
        forms=inputs.forms,
        decisions=sorted(parser.dmn_parsers),
        process_names=process_names(inputs),
        warnings=inputs.warnings,
        no_process=list(_no_process_problems(inputs, specs)),
        documents={**inputs.dmn, **inputs.bpmn},
    )


def load_deployable(files: Mapping[str, bytes]) -> LoadedBundle:
    """:func:`load_bundle` plus every check deploy makes; raises :class:`BpmnLoadError` listing every problem."""
    bundle, validation = examine_deployable(files)
    raise_if(validation.problems)
    assert bundle is not None  # no problem means it loaded
    return bundle


def examine_deployable(files: Mapping[str, bytes]) -> tuple[LoadedBundle | None, Validation]:
    """The one path deploy, ``oospath validate`` and the API's validation share: load, then the deploy checks.

    Returns the bundle (None when refused) and what a designer is told: every problem, and the
    warnings of a bundle that loaded. Raises nothing but what :func:`load_bundle` never raises.
    """
    warnings: list[BpmnWarning] = []
    try:
        bundle = load_bundle(files)
        warnings = bundle.warnings
        _check_deployable(bundle, files)
    except BpmnLoadError as error:
        return None, Validation(error.problems, warnings)
    return bundle, Validation([], warnings)


def _check_deployable(bundle: LoadedBundle, files: Mapping[str, bytes]) -> None:
    from engine.bpmn.deploy_checks import check_deployable  # it imports the services' role list

    raise_if(bundle.no_process)
    # deploy_checks finds a process's file by searching its bytes: give it UTF-8, whatever the upload's encoding
    as_utf8 = {name: stored_text(name, content).encode("utf-8") for name, content in files.items()}
    try:
        check_deployable(bundle, as_utf8)
    except BpmnLoadError as error:  # give each problem its element's type, as the loader's own have
        raise BpmnLoadError(_located(bundle, error.problems)) from None


def _located(bundle: LoadedBundle, problems: Iterable[BpmnProblem]) -> list[BpmnProblem]:
    documents = bundle.documents
    return [documents[p.file].located(p) if p.file in documents else p for p in problems]


def validate_bundle(paths: Iterable[Path]) -> Validation:
    """Problems and warnings of the bundle made of ``paths``; never raises, writes nothing.

    Directories contribute their ``.bpmn``, ``.dmn`` and ``.json`` files; every BPMN file
    brings the forms in the ``forms/`` directory beside it, as deploy does.
    """
    files: dict[str, bytes] = {}
    unread: list[BpmnProblem] = []
    try:
        chosen = _bundle_paths(paths)
    except OSError as error:  # e.g. a directory that cannot be listed
        return Validation([BpmnProblem(str(error.filename), None, None,
                                       f"cannot read directory: {error.strerror or error}")], [])
    for path in chosen:
        _read_path(path, files, unread)
    return validate_files(files, unread)


def validate_files(files: Mapping[str, bytes], unread: Iterable[BpmnProblem] = ()) -> Validation:
    """What deploy would say of ``files`` (:func:`examine_deployable`), storing nothing; never raises.

    ``unread`` are problems met before loading (a file that could not be read); with any, only
    the loading stages run, since "no process" would merely echo them.
    """
    problems = list(unread)
    try:
        if not problems:
            return examine_deployable(files)[1]
        return Validation([*problems, *_loading_problems(files)], [])
    except Exception as error:  # a caller must report, not crash, whatever the input
        reason = f"internal error while validating ({type(error).__name__}); please report it with the files"
        return Validation([*problems, BpmnProblem("<bundle>", None, None, reason)], [])


def _loading_problems(files: Mapping[str, bytes]) -> list[BpmnProblem]:
    try:
        load_bundle(files)
    except BpmnLoadError as error:
        return error.problems
    return []


def validate_paths(paths: Iterable[Path]) -> list[BpmnProblem]:
    """The refusals of :func:`validate_bundle` (empty when deploy would accept the bundle)."""
    return validate_bundle(paths).problems


# ---------------------------------------------------------- stage 2: parse, build specs


def _parse(inputs: Inputs) -> OospathParser:
    parser = OospathParser()
    problems: list[BpmnProblem] = []
    for document in inputs.dmn.values():
        problems.extend(guarded(document.name, inputs, lambda d=document: _add_dmn(parser, d)))
    for document in inputs.bpmn.values():
        problems.extend(
            guarded(document.name, inputs, lambda d=document: parser.add_bpmn_xml(d.tree, filename=d.name))
        )
    raise_if(problems)
    return parser


def _add_dmn(parser: OospathParser, document: Document) -> None:
    earlier = {decision_id: dmn.filename for decision_id, dmn in parser.dmn_parsers.items()}
    parser.add_dmn_xml(document.tree.getroot(), filename=document.name)
    dmn_parser = next(dmn for dmn in parser.dmn_parsers.values() if dmn.filename == document.name)
    decision_id = dmn_parser.bpmn_id
    if decision_id in earlier:
        raise BpmnLoadError(
            [document.problem(decision_id, f"decision id is also defined in {earlier[decision_id]}")]
        )
    dmn_parser.parse()  # SpiffWorkflow parses decisions lazily; surface their errors now


def _build_specs(
    parser: OospathParser, inputs: Inputs
) -> tuple[dict[str, BpmnProcessSpec], dict[str, dict[str, Any]]]:
    specs: dict[str, BpmnProcessSpec] = {}
    subprocess_specs: dict[str, dict[str, Any]] = {}
    problems: list[BpmnProblem] = []

    def build(process_id: str) -> None:
        specs[process_id] = parser.get_spec(process_id)
        subprocess_specs[process_id] = parser.get_subprocess_specs(process_id)

    executable = [
        (process_id, process_parser.filename)
        for process_id, process_parser in parser.process_parsers.items()
        if process_parser.node.get("isExecutable") == "true"
    ]
    for process_id, filename in executable:
        problems.extend(guarded(filename, inputs, lambda p=process_id: build(p)))
    raise_if(problems)
    return specs, subprocess_specs


def _no_process_problems(inputs: Inputs, specs: Mapping[str, BpmnProcessSpec]) -> Iterator[BpmnProblem]:
    """A bundle must run something: a .bpmn file with a process marked ``isExecutable="true"``."""
    if specs:
        return
    if not inputs.bpmn:
        yield BpmnProblem("(bundle)", None, None, "no process: the bundle has no .bpmn file; upload a diagram")
        return
    for document in inputs.bpmn.values():
        processes = document.tree.getroot().findall("bpmn:process", NS)
        if not processes:
            yield BpmnProblem(document.name, document.tree.getroot().sourceline, None,
                              "no process: the file has no <process> (only a collaboration or diagram?); "
                              "draw the process to run")
        for process in processes:
            yield document.problem(process.get("id"), 'no executable process: mark the process to run with '
                                                       'isExecutable="true"')


# ---------------------------------------------------------------------- validate_paths


def _bundle_paths(paths: Iterable[Path]) -> list[Path]:
    chosen: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            chosen.update(dict.fromkeys(sorted(_bundle_files(path))))
        else:
            chosen[path] = None
    for path in list(chosen):
        if path.suffix.lower() == ".bpmn" and (path.parent / "forms").is_dir():
            chosen.update(dict.fromkeys(sorted((path.parent / "forms").glob("*.json"))))
    return list(chosen)


def _bundle_files(directory: Path) -> Iterator[Path]:
    return (path for path in directory.iterdir() if path.suffix.lower() in {".bpmn", ".dmn", ".json"})


def _read_path(path: Path, files: dict[str, bytes], problems: list[BpmnProblem]) -> None:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_file_bytes():  # refuse before reading a huge file into memory
            problems.append(BpmnProblem(name, None, None, size_reason(size)))
        else:
            files[name] = path.read_bytes()
    except OSError as error:
        problems.append(BpmnProblem(name, None, None, f"cannot read file: {error.strerror or error}"))
