import pytest

from edgesay.text import numbers


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty two"), (100, "one hundred"),
    (105, "one hundred five"), (1000, "one thousand"), (1234, "one thousand two hundred thirty four"),
    (2_000_017, "two million seventeen"), (-5, "minus five"),
])
def test_cardinal(n: int, words: str) -> None:
    assert numbers.cardinal(n) == words


def test_huge_numbers_are_read_digit_by_digit() -> None:
    assert numbers.cardinal(10**15) == "one" + " zero" * 15


@pytest.mark.parametrize(("n", "words"), [
    (1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"), (9, "ninth"), (12, "twelfth"),
    (20, "twentieth"), (21, "twenty first"), (100, "one hundredth"), (33, "thirty third"),
])
def test_ordinal(n: int, words: str) -> None:
    assert numbers.ordinal(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1999, "nineteen ninety nine"), (1905, "nineteen oh five"), (1900, "nineteen hundred"),
    (2005, "two thousand five"), (2026, "twenty twenty six"), (2000, "two thousand"),
])
def test_year(n: int, words: str) -> None:
    assert numbers.year(n) == words


def test_decimal_and_digits() -> None:
    assert numbers.decimal("3.14") == "three point one four"
    assert numbers.decimal("1,250") == "one thousand two hundred fifty"
    assert numbers.digits("0815") == "zero eight one five"
