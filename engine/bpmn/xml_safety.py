"""Reading uploaded XML safely, and in the encoding its author declared.

Diagrams are uploaded by people, so their XML is treated as hostile: no DTD, no entity
expansion, no network access, bounded size, and a DOCTYPE is refused before libxml2 sees
the file. Bytes are handed to lxml as they are, so the XML declaration (or byte-order
mark) decides the encoding: a diagram saved as ISO-8859-1 or UTF-16 by its tool loads
like a UTF-8 one. :func:`stored_text` decodes an uploaded file the same way for storage
and display; nothing here ever assumes UTF-8 for XML.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import PurePath

from lxml import etree

from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.settings import Settings

MAX_FILE_BYTES_ENV = "OOSPATH_MAX_BPMN_BYTES"
DOCTYPE_REFUSAL = "a DOCTYPE is not allowed (DTDs and entities are refused): remove the <!DOCTYPE ...> line"

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z][\w.:-]*)["']""")
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def max_file_bytes() -> int:
    """The size limit per file: ``Settings.max_bpmn_bytes`` (``OOSPATH_MAX_BPMN_BYTES``) as configured now."""
    return Settings().max_bpmn_bytes


def parse_xml(filename: str, content: bytes) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entity expansion, no network, bounded size.

    A DOCTYPE is refused before libxml2 sees the file, because entity expansion in
    attribute values happens even with ``resolve_entities=False``.
    """
    check_size(filename, content)
    doctype_line = _doctype_line(content)
    if doctype_line is not None:
        raise refusal(filename, doctype_line, DOCTYPE_REFUSAL)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        tree = etree.fromstring(content, parser).getroottree()
    except etree.XMLSyntaxError as error:
        raise refusal(filename, error.lineno, f"malformed XML: {_sentence(error.msg)}") from None
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise refusal(filename, 1, DOCTYPE_REFUSAL)
    return tree


def xml_encoding(content: bytes) -> str:
    """The Python codec for XML ``content``: its byte-order mark, else its declaration, else UTF-8."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if content.startswith(mark):
            return codec
    if content.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if content.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    declared = _DECLARED_ENCODING.match(content[:200])
    if declared is not None:
        try:
            return codecs.lookup(declared[1].decode("ascii")).name
        except LookupError:
            return "utf-8"
    return "utf-8"


def stored_text(filename: str, content: bytes) -> str:
    """``content`` as text, decoded as the file itself says (XML declaration or BOM; JSON by RFC 8259).

    Encoding the text again with :func:`xml_encoding` of the original gives back the
    uploaded bytes, so the SHA-256 recorded at deploy stays verifiable.
    """
    is_json = PurePath(filename).suffix.lower() == ".json"
    codec = json.detect_encoding(content) if is_json else xml_encoding(content)
    return content.decode(codec, errors="replace")


def declared_bytes(text: str) -> bytes:
    """Bytes of XML ``text`` received as text (e.g. in a JSON request), in the encoding it declares."""
    codec = xml_encoding(text[:200].encode("ascii", errors="replace"))
    try:
        return text.encode(codec)
    except (UnicodeEncodeError, LookupError):
        return text.encode("utf-8")


def check_size(filename: str, content: bytes) -> None:
    if len(content) > max_file_bytes():
        raise refusal(filename, None, size_reason(len(content)))


def size_reason(size: int) -> str:
    return (f"file is {size} bytes, over the limit of {max_file_bytes()} bytes: split the diagram "
            f"or raise {MAX_FILE_BYTES_ENV}")


def refusal(filename: str, line: int | None, reason: str) -> BpmnLoadError:
    return BpmnLoadError([BpmnProblem(filename, line, None, reason)])


def raise_if(problems: list[BpmnProblem]) -> None:
    if problems:
        raise BpmnLoadError(problems)


def _doctype_line(content: bytes) -> int | None:
    """Line of a DOCTYPE, also in UTF-16/32 files (dropping NUL bytes exposes ASCII)."""
    ascii_view = content.replace(b"\x00", b"")
    position = ascii_view.find(b"<!DOCTYPE")
    return None if position < 0 else ascii_view.count(b"\n", 0, position) + 1


def _sentence(message: str) -> str:
    """libxml2's message as a sentence (it may end with a line number and no full stop)."""
    return " ".join(message.split()).rstrip(".")
