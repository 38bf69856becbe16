"""Phone normalisation: providers refuse a malformed number, so only valid E.164 goes out."""

import pytest

from services.messaging.phone import is_e164, readable_phone, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),
        ("1-201-555-0123", "US", "+12015550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("07911 123456", "GB", "+447911123456"),
        ("+44 7911 123456", "US", "+447911123456"),
        ("  +14155552671  ", "US", "+14155552671"),
    ],
)
def test_valid_numbers_become_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "hello", "n/a", "12345", "555-0100", "+1 123 456 7890", "+44 20", "+999"],
)
def test_invalid_numbers_are_dropped(raw):
    assert to_e164(raw) is None


def test_a_uk_number_without_country_code_is_not_read_as_american():
    assert to_e164("07911 123456") is None
    assert to_e164("07911 123456", "GB") == "+447911123456"


def test_is_e164_accepts_only_the_canonical_form():
    assert is_e164("+14155552671")
    assert not is_e164("(415) 555-2671")
    assert not is_e164("14155552671")
    assert not is_e164("+11234567890")
    assert not is_e164(None)
    assert not is_e164("")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+14155552671", "+1 415-555-2671"),
        ("+447911123456", "+44 7911 123456"),
        ("", ""),
        (None, ""),
        ("not a number", "not a number"),  # shown as stored rather than lost
    ],
)
def test_stored_numbers_are_shown_readably(stored, shown):
    assert readable_phone(stored) == shown
