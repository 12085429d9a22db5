"""Patient information: language per treating country, plain language, no responsibility shifting (OOS-18)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.domain import patient_information as pi
from engine.domain.authorities import national_requirement
from engine.domain.national_requirements import UnknownCountryError
from engine.domain.patient_information import (
    PatientInformationError,
    flesch_reading_ease,
    render_patient_information,
    responsibility_shifting_sentences,
)

CONTEXT = {
    "product_name": "Cartexa",
    "physician_name": "Dr Anna Berg",
    "oos_attributes": ["Living cells: 74 out of 100 cells were alive. The limit is at least 80."],
    "oos_meaning": "Your dose has fewer living cells than planned. It may work a little less well.",
    "contact": "Dr Anna Berg, ward 4, phone 0221 123 456 (day and night)",
    "side_effect_reporting": "the national reporting system, www.example-reporting.eu",
}

# One sentence per language that puts the risk on the patient; each must be caught.
BAD = {
    "en": ["By signing this sheet, you accept the risk of this treatment.",
           "You receive this dose at your own risk.",
           "You agree not to hold the company liable for any harm.",
           "You are solely responsible for the decision.",
           "The manufacturer is not responsible for side effects of this dose.",
           "You waive all claims against the hospital."],
    "de": ["Mit Ihrer Unterschrift übernehmen Sie das Risiko dieser Behandlung.",
           "Sie erhalten diese Dosis auf eigene Gefahr.",
           "Sie sind selbst verantwortlich für diese Entscheidung.",
           "Der Hersteller ist nicht verantwortlich für Nebenwirkungen."],
    "fr": ["En signant, vous acceptez les risques de ce traitement.",
           "Vous recevez cette dose à vos propres risques.",
           "Vous renoncez à tout recours contre le fabricant.",
           "Le fabricant n'est pas responsable des effets indésirables."],
    "nl": ["Door te tekenen aanvaardt u het risico van deze behandeling.",
           "U krijgt deze dosis op eigen risico.",
           "U bent zelf verantwoordelijk voor deze keuze.",
           "De fabrikant is niet aansprakelijk voor bijwerkingen."],
    "cs": ["Podpisem přijímáte riziko této léčby.",
           "Tuto dávku dostáváte na vlastní riziko.",
           "Jste sám odpovědný za toto rozhodnutí.",
           "Výrobce není odpovědný za nežádoucí účinky."],
}


@pytest.mark.parametrize("language", pi.LANGUAGES)
def test_every_shipped_template_is_free_of_responsibility_shifting(language):
    # REQ: OOS-18 patient information never transfers responsibility to the patient
    template = pi.load_template(language)
    assert responsibility_shifting_sentences(template, language) == []
    rendered = pi.render_template(template, CONTEXT)
    assert responsibility_shifting_sentences(rendered, language) == []


@pytest.mark.parametrize(("language", "sentence"), [(lang, s) for lang, ss in BAD.items() for s in ss])
def test_a_responsibility_shifting_sentence_is_caught(language, sentence):
    # REQ: OOS-18 each language's pattern list catches the bad wording
    text = f"Bitte lesen. {sentence} Thanks." if language == "de" else f"Intro. {sentence} End."
    assert responsibility_shifting_sentences(text, language) == [sentence]


def test_german_they_is_not_the_polite_you():
    # "sie tragen das Risiko" (they) is about others; only the polite "Sie" addresses the patient
    assert responsibility_shifting_sentences("Die Firmen wissen, dass sie das Risiko tragen.", "de") == []


def test_shipped_languages_are_exactly_the_template_files():
    assert pi.available_languages() == pi.LANGUAGES == ("cs", "de", "en", "fr", "nl")


@pytest.mark.parametrize("language", pi.LANGUAGES)
def test_every_template_uses_every_placeholder(language):
    # REQ: OOS-18 product, OOS attributes, meaning, physician, contact and side-effect reporting in every language
    assert set(pi.template_placeholders(pi.load_template(language))) == set(pi.PLACEHOLDERS)


@pytest.mark.parametrize(("country", "language"), [
    ("DE", "de"), ("AT", "de"), ("LI", "de"), ("FR", "fr"), ("LU", "fr"), ("BE", "nl"), ("NL", "nl"),
    ("CZ", "cs"), ("IE", "en"), ("MT", "en"),
])
def test_the_treating_site_country_chooses_the_language(country, language):
    # REQ: OOS-18 content and format follow the treating site's country
    info = render_patient_information(country, CONTEXT)
    assert info.language == language and not info.fallback and info.country == country
    assert "Cartexa" in info.text and "${" not in info.text


def test_a_country_without_a_template_in_its_language_falls_back_to_english_and_says_so():
    info = render_patient_information("IT", CONTEXT)
    assert info.language == "en" and info.fallback


def test_a_french_speaking_site_in_belgium_chooses_french():
    info = render_patient_information("BE", CONTEXT, language="fr")
    assert info.language == "fr" and "Effets indésirables" in info.text


def test_the_register_can_override_the_language_of_a_country():
    row = national_requirement("BE")
    info = render_patient_information("BE", CONTEXT, requirement=replace(row, patient_information_language="fr"))
    assert info.language == "fr"


def test_an_explicit_language_without_a_template_is_an_error():
    with pytest.raises(PatientInformationError, match="no patient information template in 'it'"):
        render_patient_information("IT", CONTEXT, language="it")


def test_an_unknown_country_is_refused():
    with pytest.raises(UnknownCountryError):
        render_patient_information("US", CONTEXT)


def test_a_missing_placeholder_value_is_named():
    context = {k: v for k, v in CONTEXT.items() if k not in {"contact", "oos_meaning"}}
    with pytest.raises(PatientInformationError, match="missing value\\(s\\) for: oos_meaning, contact"):
        render_patient_information("DE", context)


def test_an_empty_value_is_named():
    with pytest.raises(PatientInformationError, match="'contact'"):
        render_patient_information("NL", CONTEXT | {"contact": "  "})


def test_several_oos_attributes_become_one_line_each():
    info = render_patient_information("IE", CONTEXT | {"oos_attributes": ["Living cells: too few", "Purity: low"]})
    assert "- Living cells: too few\n- Purity: low" in info.text


def test_case_content_that_shifts_responsibility_is_refused():
    # REQ: OOS-18 case-specific text is checked too, not only the template
    bad = CONTEXT | {"oos_meaning": "The dose may work less well. You accept the risk of this."}
    with pytest.raises(PatientInformationError, match="You accept the risk of this"):
        render_patient_information("IE", bad)


def test_template_placeholders_cannot_reach_into_python_objects(tmp_path):
    (tmp_path / "en.txt").write_text("Hello {product_name.__class__} ${product_name}", encoding="utf-8")
    info = render_patient_information("IE", CONTEXT, templates_dir=tmp_path)
    assert info.text == "Hello {product_name.__class__} Cartexa"


# --- readability -----------------------------------------------------------------------------


def test_english_patient_information_is_plain_language():
    # REQ: OOS-18 lay language: Flesch reading ease of at least 60 for the English sheet
    info = render_patient_information("IE", CONTEXT)
    assert info.readability is not None and info.readability >= 60
    assert flesch_reading_ease(pi.load_template("en")) >= 60


def test_readability_is_only_reported_for_english():
    assert render_patient_information("DE", CONTEXT).readability is None


def test_flesch_scores_known_texts_in_the_expected_bands():
    easy = "The cat sat on the mat. It was warm. The cat was glad."
    hard = ("Notwithstanding the aforementioned considerations, pharmacovigilance obligations "
            "concerning investigational advanced therapy medicinal products remain comprehensively applicable.")
    assert flesch_reading_ease(easy) > 90
    assert flesch_reading_ease(hard) < 0


@pytest.mark.parametrize(("word", "syllables"), [
    ("cat", 1), ("table", 2), ("make", 1), ("called", 1), ("tested", 2), ("makes", 1), ("doses", 2),
    ("agree", 2), ("medicine", 3), ("specification", 5), ("responsible", 4), ("68", 2),
])
def test_syllable_heuristic(word, syllables):
    assert pi.english_syllables(word) == syllables


def test_a_text_without_words_has_no_readability():
    with pytest.raises(PatientInformationError):
        flesch_reading_ease(" ... \n")


def test_headings_and_list_lines_are_sentences_of_their_own():
    assert pi.sentences("Side effects\nTell your doctor. Or your nurse!\n- one\n") == [
        "Side effects", "Tell your doctor.", "Or your nurse!", "- one"]
