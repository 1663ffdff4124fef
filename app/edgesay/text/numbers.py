"""English number words: cardinals, ordinals, years and digit strings.

Hand-written rather than imported because the rules are short, and num2words loads every
language it knows at import time (about 16 ms of start-up on the development machine).
Words are joined by spaces, not hyphens, which is how espeak-ng reads its own numerals.
"""

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
# Beyond this, reading digit by digit is what a listener can follow.
MAX_CARDINAL = 10**15 - 1


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest or not words:
        words.append(_ONES[rest])
    return words


def cardinal(n: int) -> str:
    """12 -> 'twelve', 1234 -> 'one thousand two hundred thirty four'."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return digits(str(n))
    words: list[str] = []
    for scale, name in _SCALES:
        count, n = divmod(n, scale)
        if count:
            words += [*_below_thousand(count), name]
    if n or not words:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal(n: int) -> str:
    """3 -> 'third', 21 -> 'twenty first', 100 -> 'one hundredth'."""
    *head, last = cardinal(n).split(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year(n: int) -> str:
    """1999 -> 'nineteen ninety nine', 2005 -> 'two thousand five', 2026 -> 'twenty twenty six'."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009:
        return cardinal(n)
    century, rest = divmod(n, 100)
    if rest == 0:
        return cardinal(century) + " hundred"
    if rest < 10:
        return cardinal(century) + " oh " + cardinal(rest)
    return cardinal(century) + " " + cardinal(rest)


def digits(text: str) -> str:
    """'0815' -> 'zero eight one five'."""
    return " ".join(_ONES[int(c)] for c in text if c.isdigit())


def decimal(text: str) -> str:
    """'3.14' -> 'three point one four'; '1,250' -> 'one thousand two hundred fifty'."""
    whole, _, frac = text.replace(",", "").partition(".")
    spoken = cardinal(int(whole)) if whole else "zero"
    return spoken + (" point " + digits(frac) if frac else "")
