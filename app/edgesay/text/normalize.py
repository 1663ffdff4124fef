"""English text normalization: the cases espeak-ng (and so Piper) reads wrongly.

Only English voices get these rules (text/frontend.py); other languages get `clean_only`.

Each rule is a regular expression and a function that says the match in words. Rules run
in the order of RULES; later rules see the output of earlier ones. What no rule touches
(plain numbers, decimals) is left to espeak-ng, which reads those well.
"""

import re
import unicodedata
from collections.abc import Callable

from . import numbers

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

MONTHS = (
    "January February March April May June July August September October November December"
).split()
_MONTH_RE = "|".join(MONTHS) + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"

# Characters that carry no speech: emoji and other pictographs, private use, unassigned,
# surrogates and controls. They are dropped before anything else looks at the text.
_SILENT_CATEGORIES = {"So", "Sk", "Co", "Cn", "Cs", "Cc", "Cf"}
_PUNCT_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00a0": " ",
    }
)

_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"),
               "€": ("euro", "euros", "cent", "cents"),
               "£": ("pound", "pounds", "penny", "pence")}

# Abbreviations that end in a period but do not end a sentence.
_ABBREVIATIONS = {
    "mr": "Mister",
    "mrs": "Missus",
    "ms": "Miz",
    "dr": "Doctor",
    "prof": "Professor",
    "jr": "Junior",
    "sr": "Senior",
    "vs": "versus",
    "etc": "et cetera",
    "e.g": "for example",
    "i.e": "that is",
    "no": "number",
}


def _sentence_end_kept(match: re.Match[str], words: str) -> str:
    """Say `words`, keeping the period when the abbreviation also ended the sentence."""
    following = match.string[match.end():]
    ends_sentence = not following.strip() or re.match(r"\s+[A-Z\"']", following) is not None
    return words + ("." if ends_sentence and match.group(0).endswith(".") else "")


def _abbreviation(match: re.Match[str]) -> str:
    key = match.group("abbr").lower()
    if key == "no" and not re.match(r"\s*\d", match.string[match.end():]):
        return match.group(0)  # "no." is only "number" before a number
    words = _ABBREVIATIONS[key]
    if key == "etc":
        return _sentence_end_kept(match, words)
    return words


def _saint_or_street(match: re.Match[str]) -> str:
    # "St. Louis" is a saint; "Main St." is a street.
    nxt = match.string[match.end():]
    if re.match(r"\s+[A-Z]", nxt) and not re.search(r"[A-Z]\w*\s+$", match.string[:match.start()]):
        return "Saint"
    return _sentence_end_kept(match, "Street")


def _money(match: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[match.group("cur")]
    whole = int(match.group("whole").replace(",", ""))
    scale = match.group("scale")
    if scale:
        amount = numbers.decimal(match.group("whole") + ("." + match.group("frac") if match.group("frac") else ""))
        return f"{amount} {scale} {many}"
    cents = int((match.group("frac") or "0").ljust(2, "0"))
    parts = []
    if whole or not cents:
        parts.append(f"{numbers.cardinal(whole)} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{numbers.cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group("h")), int(match.group("m"))
    if hour > 24 or minute > 59:
        return match.group(0)
    if minute == 0:
        spoken = numbers.cardinal(hour) + ("" if match.group("ampm") else " o'clock")
    elif minute < 10:
        spoken = f"{numbers.cardinal(hour)} oh {numbers.cardinal(minute)}"
    else:
        spoken = f"{numbers.cardinal(hour)} {numbers.cardinal(minute)}"
    if match.group("ampm"):
        spoken += " " + match.group("ampm")[0].upper() + " M"
        return _sentence_end_kept(match, spoken)
    return spoken


def _ampm(match: re.Match[str]) -> str:
    return _sentence_end_kept(match, " " + match.group("ap").upper() + " M")


def _month_name(text: str) -> str:
    stem = text.rstrip(".")[:3].lower()
    return next(m for m in MONTHS if m.lower().startswith(stem))


def _iso_date(match: re.Match[str]) -> str:
    y, m, d = (int(match.group(k)) for k in ("y", "m", "d"))
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return match.group(0)
    return f"{MONTHS[m - 1]} {numbers.ordinal(d)}, {numbers.year(y)}"


def _month_day(match: re.Match[str]) -> str:
    day = int(match.group("d"))
    if not 1 <= day <= 31:
        return match.group(0)
    spoken = f"{_month_name(match.group('mon'))} {numbers.ordinal(day)}"
    if match.group("y"):
        spoken += f", {numbers.year(int(match.group('y')))}"
    return spoken


def _year_after_month_or_preposition(match: re.Match[str]) -> str:
    return f"{match.group('lead')}{numbers.year(int(match.group('y')))}"


def _ordinal(match: re.Match[str]) -> str:
    return numbers.ordinal(int(match.group("n")))


def _percent(match: re.Match[str]) -> str:
    return numbers.decimal(match.group("n")) + " percent"


def _version(match: re.Match[str]) -> str:
    spoken = " point ".join(numbers.cardinal(int(p)) for p in match.group("v").split("."))
    return ("version " if match.group("pre") else "") + spoken


RULES: list[Rule] = [
    (re.compile(r"\b(?P<abbr>Mr|Mrs|Ms|Dr|Prof|Jr|Sr|vs|etc|e\.g|i\.e|No)\.", re.I), _abbreviation),
    (re.compile(r"\bSt\.(?=\s|$)"), _saint_or_street),
    (re.compile(r"(?P<cur>[$€£])\s?(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?"
                r"(?:\s(?P<scale>thousand|million|billion|trillion)\b)?(?!\d)"), _money),
    (re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b"), _iso_date),
    (re.compile(r"\b(?P<h>\d{1,2}):(?P<m>\d{2})\b(?!:)(?:\s?(?P<ampm>[ap]\.m\.|[ap]m\b))?", re.I), _clock),
    (re.compile(r"(?<=\d)\s?(?P<ap>[ap])(?:\.m\.|m\b)", re.I), _ampm),
    (re.compile(r"\b(?P<mon>" + _MONTH_RE + r")\s(?P<d>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s(?P<y>\d{4})\b)?"), _month_day),
    (re.compile(r"(?P<lead>\b(?:(?i:in|since|by|from|until|of)|" + _MONTH_RE + r"),?\s)"
                r"(?P<y>1[1-9]\d\d|20\d\d)\b(?![.,]\d|%)"),
     _year_after_month_or_preposition),
    (re.compile(r"\b(?P<n>\d+)(?:st|nd|rd|th)\b", re.I), _ordinal),
    (re.compile(r"(?P<n>\d+(?:\.\d+)?)\s?%"), _percent),
    (re.compile(r"(?:\b(?P<pre>[vV])|\b)(?P<v>\d+\.\d+\.\d+(?:\.\d+)*)\b"), _version),
    (re.compile(r"(?P<pre>\bv)(?P<v>\d+\.\d+)\b"), _version),
    (re.compile(r"\s&\s"), lambda m: " and "),
    (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), lambda m: " plus "),
    (re.compile(r"#(?=\d)"), lambda m: "number "),
    (re.compile(r"(?<=\w)@(?=\w)"), lambda m: " at "),
]


def clean(text: str) -> str:
    """Unify quotes and dashes and drop characters that carry no speech."""
    text = unicodedata.normalize("NFC", text).translate(_PUNCT_MAP)
    text = re.sub(r"\s*[\u2013\u2014]\s*", ", ", text)  # a dash is a pause, as a comma is
    return clean_only(text)


def clean_only(text: str) -> str:
    """Drop characters that carry no speech (emoji, controls, unassigned), and nothing else:
    all a voice in another language than English gets, so espeak-ng reads it as in Piper.
    Symbols espeak-ng says in words (° © ™ §) stay; arrows, dingbats and emoji do not."""
    kept = (" " if _silent(c) and c not in "\n\t" else c for c in text)
    return "".join(kept)


def _silent(char: str) -> bool:
    category = unicodedata.category(char)
    return category in _SILENT_CATEGORIES and (category != "So" or ord(char) >= 0x2190)


def normalize(text: str) -> str:
    """Say numbers, money, times, dates and abbreviations as words an English voice reads."""
    text = clean(text)
    for pattern, say in RULES:
        text = pattern.sub(say, text)
    return re.sub(r"[ \t]+", " ", text).strip()
