"""SSML (the W3C Speech Synthesis Markup Language) -> runs of text to say and pauses.

Read: `speak`, `p` and `s` (each ends a sentence), `break` (`time`, `strength`), `say-as`
(`characters`, `cardinal`, `ordinal`, `digits`, `date` with `format`, `time`, `telephone`),
`sub alias`, `phoneme` (`alphabet="ipa"`, as a Piper phoneme block), `prosody rate` (by the
length scale; `pitch` and `volume` are ignored), and `xml:lang` on `speak`, `p`, `s`, `lang` and
`voice` (the espeak-ng voice for that language). Other elements are read for their text.

Parsed by defusedxml: a document may not declare a DTD or entities, so it cannot expand itself
(the "billion laughs") or read files. A document that is not well-formed is one InputError with
its line and column.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import InputError
from . import numbers
from .normalize import MONTHS

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_DEPTH = 32  # elements inside each other; more is not a document a person wrote
MAX_BREAK_SECONDS = 10.0  # as --sentence-silence (voice.limits)
# SSML's named strengths, in seconds (the standard leaves their length to the processor).
BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.2}
# prosody rate's names, as a speed factor (the length scale is divided by it).
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.33, "x-fast": 1.75}
MIN_RATE, MAX_RATE = 0.25, 4.0
_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*")
_RATE = re.compile(r"\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*")


@dataclass(frozen=True)
class Said:
    """Text to say as one run: its sentences are the text's own."""

    text: str
    rate: float = 1.0  # speed factor (prosody rate)
    language: str | None = None  # an SSML language tag (xml:lang), None: the voice's own


@dataclass(frozen=True)
class Pause:
    seconds: float


Part = Said | Pause


def is_ssml(text: str) -> bool:
    """Text a Wyoming client sends as SSML: it starts with <speak (after an XML declaration)."""
    stripped = text.lstrip()
    if stripped.startswith("<?xml"):
        stripped = stripped[stripped.find("?>") + 2:].lstrip()
    return stripped.startswith("<speak")


def parse(document: str, english: bool) -> list[Part]:
    """`document` as runs and pauses. `english`: say-as reads numbers and dates with edgesay's
    English rules; otherwise they are left for espeak-ng to read in the voice's language."""
    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(":")[0]
        raise InputError(f"SSML is not well-formed at line {line}, column {column + 1}: {message}") from None
    except DefusedXmlException:
        raise InputError("SSML may not declare a DTD or entities") from None
    if _name(root) != "speak":
        raise InputError(f"SSML must be one <speak> element; this one is <{_name(root)}>")
    reader = _Reader(english)
    reader.element(root, 1.0, root.get(XML_LANG), 1)
    reader.flush()
    return reader.parts


def _name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


@dataclass
class _Reader:
    english: bool
    parts: list[Part] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # of the run being read
    rate: float = 1.0
    language: str | None = None

    def flush(self) -> None:
        text = "".join(self.words)
        if text.strip():
            self.parts.append(Said(text, self.rate, self.language))
        self.words = []

    def say(self, text: str | None, rate: float, language: str | None) -> None:
        if not text:
            return
        if (rate, language) != (self.rate, self.language):
            self.flush()
            self.rate, self.language = rate, language
        self.words.append(text)

    def element(self, element: ET.Element, outer_rate: float, outer_language: str | None, depth: int) -> None:
        """Read `element` and its children, then its tail (in the rate and language around it)."""
        if depth > MAX_DEPTH:
            raise InputError(f"SSML elements are nested more than {MAX_DEPTH} deep")
        name = _name(element)
        rate, language = outer_rate, element.get(XML_LANG) or outer_language
        if name == "break":
            self.flush()
            self.parts.append(Pause(_break_seconds(element)))
        elif name == "say-as":
            self.say(" " + _say_as(element, self.english) + " ", rate, language)
        elif name == "sub":
            alias = element.get("alias")
            if alias is None:
                raise InputError('SSML <sub> needs an alias="..."')
            self.say(alias, rate, language)
        elif name == "phoneme":
            if element.get("alphabet", "ipa") != "ipa":
                raise InputError(f"SSML <phoneme> alphabet {element.get('alphabet')!r} is not read; use ipa")
            said = (element.get("ph") or "").strip()
            if not said or "[[" in said or "]]" in said:
                raise InputError('SSML <phoneme> needs ph="..." with IPA phonemes')
            self.say(f"[[ {said} ]]", rate, language)
        else:  # speak, p, s, prosody, lang, voice, and others for their text (audio: its fallback)
            if name == "prosody" and element.get("rate") is not None:
                rate = rate * _rate(element.get("rate", ""))
                if not MIN_RATE <= rate <= MAX_RATE:
                    raise InputError(f"SSML prosody rate makes the speed {rate:g}x; it must be {MIN_RATE:g} to "
                                     f"{MAX_RATE:g}x")
            ends = name in ("p", "s")  # a sentence ends at both ends
            if ends:
                self.say("\n\n", self.rate, self.language)
            self.say(element.text, rate, language)
            for child in element:
                self.element(child, rate, language, depth + 1)
            if ends:
                self.say("\n\n", self.rate, self.language)
        self.say(element.tail, outer_rate, outer_language)


def _break_seconds(element: ET.Element) -> float:
    time = element.get("time")
    if time is not None:
        match = _TIME.fullmatch(time)
        if not match:
            raise InputError(f'SSML <break time="{time}"> must be like "500ms" or "1.5s"')
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
        if seconds > MAX_BREAK_SECONDS:
            raise InputError(f'SSML <break time="{time}"> is over {MAX_BREAK_SECONDS:g} s')
        return seconds
    strength = element.get("strength", "medium")
    if strength not in BREAK_STRENGTHS:
        raise InputError(f"SSML <break strength> must be one of {', '.join(BREAK_STRENGTHS)}")
    return BREAK_STRENGTHS[strength]


def _rate(value: str) -> float:
    if value in RATES:
        return RATES[value]
    match = _RATE.fullmatch(value)
    if not match:
        raise InputError(f'SSML prosody rate="{value}" must be x-slow..x-fast, a percentage or a number')
    sign, number, percent = match.groups()
    amount = float(number)
    if percent and sign:
        return 1.0 + (amount if sign == "+" else -amount) / 100  # "+20%": 20 % faster
    if sign:
        raise InputError(f'SSML prosody rate="{value}": a relative rate is a percentage ("+20%")')
    return amount / 100 if percent else amount


def _say_as(element: ET.Element, english: bool) -> str:
    kind = (element.get("interpret-as") or "").lower()
    text = "".join(element.itertext()).strip()
    reader = _SAY_AS.get(kind)
    if reader is None:
        raise InputError(f"SSML say-as interpret-as={kind!r} is not read; one of {', '.join(sorted(_SAY_AS))}")
    return reader(text, element.get("format", ""), english)


def _characters(text: str, _: str, english: bool) -> str:
    spelled = []
    for char in text:
        if char.isdigit() and english:
            spelled.append(numbers.digits(char))
        elif not char.isspace():
            spelled.append(char.upper() if english else char)
    return " ".join(spelled)


def _cardinal(text: str, _: str, english: bool) -> str:
    number = text.replace(",", "") if english else text
    if english and re.fullmatch(r"-?\d+(\.\d+)?", number):
        return ("minus " if number.startswith("-") else "") + numbers.decimal(number.lstrip("-"))
    return text


def _ordinal(text: str, _: str, english: bool) -> str:
    digits = re.sub(r"(?i)(st|nd|rd|th|\.)$", "", text.strip())
    if english and digits.isdigit():
        return numbers.ordinal(int(digits))
    return f"{digits}." if digits.isdigit() else text  # espeak-ng reads "3." as an ordinal in most languages


def _digits(text: str, _: str, english: bool) -> str:
    return numbers.digits(text) if english else " ".join(c for c in text if c.isdigit())


def _date(text: str, form: str, english: bool) -> str:
    fields = re.findall(r"\d+", text)
    form = (form or "ymd" if len(fields) == 3 and len(fields[0]) == 4 else form or "mdy").lower()
    if not english or len(fields) != len(form) or not set(form) <= set("ymd"):
        return text
    value = dict(zip(form, (int(f) for f in fields), strict=True))
    if ("m" in value and not 1 <= value["m"] <= 12) or ("d" in value and not 1 <= value["d"] <= 31):
        return text
    said = []
    if "m" in value:
        said.append(MONTHS[value["m"] - 1])
    if "d" in value:
        said.append(numbers.ordinal(value["d"]) + ("," if "y" in value else ""))
    if "y" in value:
        said.append(numbers.year(value["y"]))
    return " ".join(said)


def _time(text: str, _: str, english: bool) -> str:
    return text  # "14:30", "2:05 pm": English normalization and espeak-ng read clock times


def _telephone(text: str, _: str, english: bool) -> str:
    groups = re.findall(r"\d+", text)
    read = numbers.digits if english else (lambda g: " ".join(g))
    return ", ".join(read(group) for group in groups) or text


_SAY_AS: dict[str, Callable[[str, str, bool], str]] = {
    "characters": _characters, "spell-out": _characters, "cardinal": _cardinal, "number": _cardinal,
    "ordinal": _ordinal, "digits": _digits, "date": _date, "time": _time, "telephone": _telephone,
}
