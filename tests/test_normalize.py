"""Each normalization rule, with the cases Piper gets wrong today."""

import pytest

from edgesay.text.normalize import normalize
from edgesay.text.sentences import split_sentences


@pytest.mark.parametrize(("text", "spoken"), [
    ("$12.99", "twelve dollars and ninety nine cents"),
    ("$4.50", "four dollars and fifty cents"),
    ("$1", "one dollar"),
    ("$0.05", "five cents"),
    ("$1,234", "one thousand two hundred thirty four dollars"),
    ("€3.01", "three euros and one cent"),
    ("£2.5", "two pounds and fifty pence"),
    ("$2 million", "two million dollars"),
    ("$3.5 billion", "three point five billion dollars"),
])
def test_currency(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("Mr. Jones", "Mister Jones"),
    ("Mrs. Smith", "Missus Smith"),
    ("Ms. Lee", "Miz Lee"),
    ("Dr. Who", "Doctor Who"),
    ("St. Louis", "Saint Louis"),
    ("on Main St. today", "on Main Street today"),
    ("e.g. this", "for example this"),
    ("i.e. that", "that is that"),
    ("No. 5", "number 5"),
    ("No. I won't", "No. I won't"),
    ("cats vs. dogs", "cats versus dogs"),
])
def test_abbreviations(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize("text", ["Ask Mr. Jones now.", "Dr. Smith and St. Louis.", "Meet at 8 p.m. today.",
                                  "Apples, e.g. red ones, are fine.", "Meet Mrs. Lee at 9 a.m. sharp."])
def test_abbreviations_do_not_end_sentences(text: str) -> None:
    assert len(split_sentences(normalize(text))) == 1


def test_abbreviation_at_the_end_of_a_sentence_still_ends_it() -> None:
    sentences = split_sentences(normalize("Bring pens, paper, etc. Then sit. See you at 5 p.m. Bye."))
    assert [s.text for s in sentences] == ["Bring pens, paper, et cetera.", "Then sit.", "See you at 5 P M.", "Bye."]


@pytest.mark.parametrize(("text", "spoken"), [
    ("8:15", "eight fifteen"),
    ("10:30", "ten thirty"),
    ("10:00", "ten o'clock"),
    ("7:05", "seven oh five"),
    ("8:15 p.m.", "eight fifteen P M."),  # at the end of the text, p.m. also ends the sentence
    ("8:15 p.m. show", "eight fifteen P M show"),
    ("9:00 am", "nine A M"),
    ("at 7am", "at 7 A M"),
    ("25:99", "25:99"),
    ("12:34:56", "12:34:56"),
])
def test_times(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("June 3rd", "June third"),
    ("June 3", "June third"),
    ("on the 1st of April", "on the first of April"),
    ("March 15, 2024", "March fifteenth, twenty twenty four"),
    ("Jan. 5, 1999", "January fifth, nineteen ninety nine"),
    ("2024-06-03", "June third, twenty twenty four"),
    ("in 1984", "in nineteen eighty four"),
    ("the 21st century", "the twenty first century"),
    ("my 2nd try", "my second try"),
    ("2024-13-40", "2024-13-40"),
])
def test_dates_and_ordinals(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("94%", "ninety four percent"),
    ("3.5 %", "three point five percent"),
    ("100%", "one hundred percent"),
])
def test_percentages(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("Version 2.4.1 fixes", "Version two point four point one fixes"),
    ("v2.4", "version two point four"),
    ("v10.0.3", "version ten point zero point three"),
    ("1.2.3.4", "one point two point three point four"),
])
def test_versions(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


def test_plain_numbers_are_left_to_espeak() -> None:
    assert normalize("I have 25 cats and 3.5 dogs") == "I have 25 cats and 3.5 dogs"


@pytest.mark.parametrize(("text", "spoken"), [
    ("Tom & Jerry", "Tom and Jerry"), ("2+2", "2 plus 2"), ("#5", "number 5"), ("me@home", "me at home"),
    ("Hi 👋 there ☃", "Hi there"), ("“quoted” — really…", "\"quoted\", really..."), ("a\u200bb", "a b"),
])
def test_symbols_and_silent_characters(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


def test_the_shared_sentences_read_as_intended(eval_sentences: list[str]) -> None:
    spoken = [normalize(s) for s in eval_sentences]
    assert "Mister Jones owes twelve dollars and ninety nine cents for 2 tickets to the eight fifteen P M show " \
           "on June third." in spoken
    assert "Error: the disk is ninety four percent full, and the backup scheduled for tonight will probably fail." \
           in spoken
    assert "Version two point four point one fixes 3 bugs reported on the first of April." in spoken
