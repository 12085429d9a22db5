"""Lay-language information for a patient who receives an OOS batch (OOS-18).

The EMA Q&A asks that the patient is told they receive an out-of-specification product,
in lay language, with content and format governed by the law of the treating site's
country, and that the information never transfers responsibility to the patient nor
discharges the MAH's or manufacturer's responsibilities. This module turns that into
three checkable rules:

* **Language follows the treating site's country** (:data:`COUNTRY_LANGUAGE`), with an
  override per country in the NCA register (``patient_information_language``) and an
  explicit override per call (a French-speaking site in Belgium passes ``language="fr"``).
  Choices where a country has several official languages: BE -> ``nl`` (the largest
  language community; the register or the site overrides to ``fr``), LU -> ``fr`` (the
  main language of legislation), LI -> ``de``. A country without a template in its
  language gets the English one and ``fallback=True``, so the case shows that a
  translation under national law is still needed instead of pretending it is done.
* **Plain language is measured**: :func:`flesch_reading_ease` for English (the formula
  is calibrated for English only, so other languages report ``None`` rather than a
  misleading number). The shipped English template aims at 60 or more.
* **No responsibility shifting**: :func:`responsibility_shifting_sentences` flags
  sentences that put risk or responsibility on the patient ("you accept the risk", "at
  your own risk", waivers, "not hold ... liable") or discharge the company ("the
  manufacturer is not responsible"), with a pattern list per language. Rendering refuses
  a text that trips it, because case-specific content (the OOS meaning, the contact) is
  written by people and could bring such a sentence in.

Templates are ``processes/patient_information/<language>.txt`` with ``${name}``
placeholders (:class:`string.Template`: no attribute access or formatting code, so an
edited template cannot reach into Python objects). Case values are written in the
template's language by the physician or the manufacturer. Only reading a template is
I/O; everything else is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from engine.domain.authorities import national_requirement
from engine.domain.national_requirements import NationalRequirement

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "processes" / "patient_information"
FALLBACK_LANGUAGE = "en"
LANGUAGES = ("cs", "de", "en", "fr", "nl")

COUNTRY_LANGUAGE: dict[str, str] = {
    "AT": "de",
    "DE": "de",
    "LI": "de",
    "FR": "fr",
    "LU": "fr",
    "BE": "nl",
    "NL": "nl",
    "CZ": "cs",
    "IE": "en",
    "MT": "en",
}
"""Template language per treating-site country; countries not listed fall back to English."""

PLACEHOLDERS = ("product_name", "physician_name", "oos_attributes", "oos_meaning", "contact", "side_effect_reporting")
"""What every template uses; see the module docstring for who writes each value."""


class PatientInformationError(ValueError):
    """The patient information cannot be produced as asked (missing value, unknown language, bad text)."""


@dataclass(frozen=True)
class PatientInformation:
    """The rendered text for one patient, with the facts a reviewer needs beside it."""

    language: str
    text: str
    readability: float | None
    fallback: bool = False
    country: str = ""
    placeholders: tuple[str, ...] = field(default=(), repr=False)


# --- responsibility shifting -----------------------------------------------------------

_I = re.IGNORECASE

_RESPONSIBILITY_PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        r"^(?=.*\byou\b)(?=.*\b(accept|assume|take|bear|carry)\w*\b)(?=.*\b(risks?|responsibilit\w*|liabilit\w*)\b)",
        r"\b(at|on) your own (risk|responsibility)\b",
        r"\byou\s+(are|will be|remain)\s+(solely\s+|fully\s+|personally\s+|alone\s+)?"
        r"(responsible|liable|accountable)\b",
        r"\b(not|never)\s+(to\s+)?hold\b.*\b(responsible|liable|accountable)\b",
        r"\bhold\b.*\bharmless\b",
        r"\bwaiv(e|es|ed|er|ing)\b",
        r"\brelease\w*\b.*\bfrom\b.*\b(liabilit\w*|responsibilit\w*|claims?)\b",
        r"\bindemnif\w*",
        r"\bdischarg\w*\b.*\b(responsibilit\w*|liabilit\w*|dut(y|ies)|obligations?)\b",
        r"\b(is|are|will be|cannot be)\s+not\s+(responsible|liable)\b",
        r"\b(no|any)\s+(liability|claims?)\s+against\b",
        r"\byou agree\b.*\b(not|no)\b.*\b(claim|sue|liab\w*|responsib\w*)",
        r"\bsole responsibility\b",
    ),
    "de": (
        r"^(?=.*(?-i:\bSie\b))(?=.*\b(übernehmen|tragen|akzeptieren|akzeptiert)\b)"
        r"(?=.*\b(Risik\w*|Verantwortung|Haftung)\b)",
        r"\bauf (eigene|eigenes|Ihre eigene|Ihr eigenes) (Gefahr|Risiko|Verantwortung)\b",
        r"(?-i:\bSie\b)\s+(sind|bleiben)\s+(selbst\s+|allein\s+|voll\s+)?(verantwortlich|haftbar)\b",
        r"\bHaftungs(ausschluss|verzicht|freistellung)\b",
        r"\bverzichten\b.*\b(Ansprüche|Anspruch|Haftung|Rechte)\b",
        r"\b(nicht|keine)\b.*\bhaftbar\b.*\bmachen\b",
        r"\bfrei(stellen|gestellt|zustellen)\b",
        r"\b(ist|sind|wird|werden)\s+nicht\s+(verantwortlich|haftbar)\b",
        r"\bkeine (Haftung|Verantwortung)\b",
    ),
    "fr": (
        r"^(?=.*\bvous\b)(?=.*\b(acceptez|assumez|prenez|portez|supportez)\b)(?=.*\b(risques?|responsabilités?)\b)",
        r"\bà vos (propres )?risques\b",
        r"\bsous votre (propre |seule )?responsabilité\b",
        r"\bvous\s+(êtes|serez|restez)\s+(seule?s?\s+|entièrement\s+|pleinement\s+)?responsables?\b",
        r"\bdécharg\w*",
        r"\brenonc\w*\b.*\b(recours|poursuites?|réclamations?|droits?)\b",
        r"\bdégag\w*\b.*\bresponsabilités?\b",
        r"\b(n'est|ne sont|ne sera|ne seront|n’est)\s+pas\s+responsables?\b",
        r"\baucune responsabilité\b",
    ),
    "nl": (
        r"^(?=.*\bu\b)(?=.*\b(aanvaardt|accepteert|neemt|draagt)\b)(?=.*\b(risico\w*|verantwoordelijkheid|aansprakelijkheid)\b)",
        r"\bop eigen (risico|verantwoordelijkheid)\b",
        r"\bu\s+(bent|blijft)\s+(zelf\s+|volledig\s+|alleen\s+)*(verantwoordelijk|aansprakelijk)\b",
        r"\bniet\b.*\baansprakelijk\b.*\bstellen\b",
        r"\bafstand\b.*\b(rechten|claims?|aanspraken|aansprakelijkheid)\b",
        r"\bvrijwar\w*",
        r"\b(is|zijn|wordt|worden)\s+niet\s+(verantwoordelijk|aansprakelijk)\b",
        r"\bgeen (aansprakelijkheid|verantwoordelijkheid)\b",
    ),
    "cs": (
        r"^(?=.*\b(přijímáte|přebíráte|nesete|akceptujete)\b)(?=.*\b(rizik\w*|odpovědnost\w*)\b)",
        r"\bna vlastní (riziko|nebezpečí|odpovědnost)\b",
        r"\b(jste|budete)\s+(sám\s+|sama\s+|sami\s+|plně\s+)?odpovědn\w*",
        r"\bvzdáváte\s+se\b",
        r"\bzprošťuje\w*",
        r"\b(není|nejsou|nenese|nenesou|nebude|nebudou)\b(\s+\w+){0,2}\s+odpovědn\w*",
        r"\bžádnou odpovědnost\b",
    ),
}
"""Per language: a sentence matching any pattern shifts responsibility (case-insensitive,
except German ``Sie``, which must be the polite "you" and not "they")."""

_COMPILED = {lang: tuple(re.compile(p, _I) for p in pats) for lang, pats in _RESPONSIBILITY_PATTERNS.items()}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """Sentences of a lay text: split after ``.``, ``!``, ``?`` and at every line break.

    Line breaks end a sentence too, so headings and list items count as units of
    their own (as a reader takes them) instead of merging into the next sentence.
    """
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def responsibility_shifting_sentences(text: str, language: str) -> list[str]:
    """Sentences of ``text`` that would move risk or responsibility to the patient (OOS-18).

    A pattern list is a safety net, not proof: an empty result means no known wording
    was found, and a hit must be rewritten, not argued with.
    """
    try:
        patterns = _COMPILED[language]
    except KeyError:
        raise PatientInformationError(
            f"no responsibility-shifting patterns for language {language!r} (have: {', '.join(sorted(_COMPILED))})"
        ) from None
    return [s for s in sentences(text) if any(p.search(s) for p in patterns)]


# --- readability ----------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_VOWELS = frozenset("aeiouy")


def _silent_ending(w: str) -> bool:
    """A final ``e``, ``ed`` or ``es`` that is not pronounced as a syllable of its own."""
    if len(w) < 3 or (w[-2] in _VOWELS and w.endswith("e")):
        return False
    if w.endswith("le"):
        return w[-3] in _VOWELS  # "table": the -le is a syllable after a consonant
    if w.endswith("e"):
        return True
    if w.endswith("ed"):
        return w[-3] not in _VOWELS | {"t", "d"}
    if w.endswith("es"):
        return w[-3] not in _VOWELS | {"s", "x", "z", "g", "c"} and not w.endswith(("ches", "shes"))
    return False


def english_syllables(word: str) -> int:
    """Syllables of an English word by a heuristic, good enough for a readability score.

    Counts groups of vowels (``a e i o u y``), then removes common silent endings:
    a final ``e`` (``make``) unless it is ``-le`` after a consonant (``table``), a final
    ``-ed`` unless after ``t``/``d`` (``called`` 1, ``tested`` 2), and a final ``-es``
    unless after ``s x z ch sh g c`` (``makes`` 1, ``doses`` 2). Every word has at least
    one syllable. A number counts one syllable per digit, a rough stand-in for how it
    is read aloud.
    """
    if word[:1].isdigit():
        return max(1, sum(ch.isdigit() for ch in word))
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 1
    count = len(_VOWEL_GROUP.findall(w))
    if count > 1 and _silent_ending(w):
        count -= 1
    return max(1, count)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease of an English text: 206.835 - 1.015 ASL - 84.6 ASW.

    ASL is words per sentence (:func:`sentences`), ASW syllables per word
    (:func:`english_syllables`). Higher is easier; 60-70 is plain English, 30 or less
    is very difficult. The result is not clipped, so very short or very long texts can
    fall outside 0-100. A text without words is an error: it has no readability.
    """
    units = sentences(text)
    words = [w for s in units for w in _WORD.findall(s)]
    if not words:
        raise PatientInformationError("cannot score the readability of a text without words")
    syllables = sum(english_syllables(w) for w in words)
    return round(206.835 - 1.015 * (len(words) / len(units)) - 84.6 * (syllables / len(words)), 1)


# --- templates and rendering ----------------------------------------------------------


def language_for(
    country: str, *, language: str | None = None, requirement: NationalRequirement | None = None
) -> str | None:
    """Template language for a treating site: explicit choice, register override, then the map.

    None means the country has no chosen language yet (the caller falls back to English
    and says so).
    """
    if language:
        return language
    if requirement is not None and requirement.patient_information_language:
        return requirement.patient_information_language
    return COUNTRY_LANGUAGE.get(country.upper())


def available_languages(templates_dir: Path | None = None) -> tuple[str, ...]:
    """Languages with a template file, sorted."""
    directory = templates_dir or TEMPLATES_DIR
    return tuple(sorted(p.stem for p in directory.glob("*.txt")))


def load_template(language: str, templates_dir: Path | None = None) -> str:
    """The template text of one language; PatientInformationError if there is none."""
    if not re.fullmatch(r"[a-z]{2}", language):
        raise PatientInformationError(f"language must be an ISO 639-1 code such as 'de', got {language!r}")
    path = (templates_dir or TEMPLATES_DIR) / f"{language}.txt"
    if not path.is_file():
        raise PatientInformationError(f"no patient information template for language {language!r} ({path})")
    return path.read_text(encoding="utf-8")


def template_placeholders(template: str) -> tuple[str, ...]:
    """Placeholder names a template uses, in order of first use."""
    names: list[str] = []
    for match in Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            raise PatientInformationError(f"invalid placeholder near {template[match.start():match.start() + 20]!r}")
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _value_text(name: str, value: object) -> str:
    """One context value as text; a list becomes one ``- item`` line per entry."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = [str(item).strip() for item in value if str(item).strip()]
        text = "\n".join(f"- {item}" for item in items)
    elif value is None:
        text = ""
    else:
        text = str(value).strip()
    if not text:
        raise PatientInformationError(f"patient information needs a value for {name!r}; it is empty")
    return text


def render_template(template: str, context: Mapping[str, object]) -> str:
    """Fill a template; a missing or empty value is an error naming the placeholder.

    Never renders partially: a sheet without the contact or the OOS meaning would
    mislead the patient, so every placeholder must have content.
    """
    names = template_placeholders(template)
    missing = [name for name in names if name not in context]
    if missing:
        raise PatientInformationError(f"patient information is missing value(s) for: {', '.join(missing)}")
    values = {name: _value_text(name, context[name]) for name in names}
    return Template(template).substitute(values)


def render_patient_information(
    country: str,
    context: Mapping[str, object],
    *,
    language: str | None = None,
    templates_dir: Path | None = None,
    requirement: NationalRequirement | None = None,
) -> PatientInformation:
    """The patient information for a treating site's country, checked before it is returned (OOS-18).

    ``country`` must be in the NCA register (unknown codes raise
    :class:`~engine.domain.national_requirements.UnknownCountryError`). ``language`` is the site's
    explicit choice and must have a template; otherwise the register override or
    :data:`COUNTRY_LANGUAGE` decides, falling back to English with ``fallback=True``.
    A rendered text containing a responsibility-shifting sentence is refused.
    """
    row = requirement or national_requirement(country)
    chosen = language_for(row.country, language=language, requirement=row)
    available = available_languages(templates_dir)
    fallback = chosen is None or chosen not in available
    if language and fallback:
        raise PatientInformationError(
            f"no patient information template in {language!r}; available: {', '.join(available)}"
        )
    if chosen is None or fallback:
        chosen = FALLBACK_LANGUAGE
    template = load_template(chosen, templates_dir)
    text = render_template(template, context)
    shifting = responsibility_shifting_sentences(text, chosen)
    if shifting:
        raise PatientInformationError(
            "patient information must not transfer responsibility to the patient (OOS-18); rewrite: "
            + " | ".join(shifting)
        )
    readability = flesch_reading_ease(text) if chosen == "en" else None
    return PatientInformation(
        language=chosen, text=text, readability=readability, fallback=fallback, country=row.country,
        placeholders=template_placeholders(template),
    )


__all__ = [
    "COUNTRY_LANGUAGE",
    "FALLBACK_LANGUAGE",
    "LANGUAGES",
    "PLACEHOLDERS",
    "TEMPLATES_DIR",
    "PatientInformation",
    "PatientInformationError",
    "available_languages",
    "english_syllables",
    "flesch_reading_ease",
    "language_for",
    "load_template",
    "render_patient_information",
    "render_template",
    "responsibility_shifting_sentences",
    "sentences",
    "template_placeholders",
]
