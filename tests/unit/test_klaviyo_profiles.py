"""Klaviyo profile properties: what a profile says, its fingerprint, and job packing."""

from __future__ import annotations

import json

import pytest

from services.messaging import Recipient
from services.messaging.klaviyo_profiles import (
    DUE_PRODUCTS_PROPERTY,
    DUE_PROPERTY,
    MAX_JOB_BYTES,
    MAX_JOB_PROFILES,
    ProfileProduct,
    ProfileState,
    bulk_import_body,
    encoded,
    fingerprint,
    profile_entry,
    profile_properties,
    split_jobs,
)

AVA = Recipient(email="ava@example.com", phone="+14155552671", external_id="5551234")
SOAP = ProfileProduct("Lavender Soap", "Large", 2, "https://cdn.example.com/soap.png", 1250)
URL = "https://carts.example.com/cart/tok?ch=klaviyo"


def _entry(n: int, padding: int = 0) -> dict:
    state = ProfileState(
        Recipient(email=f"c{n}@example.com", phone=None, external_id=None),
        URL + "x" * padding,
        (),
    )
    entry = profile_entry(state)
    assert entry is not None
    return entry


def test_a_due_profile_lists_its_products_as_json_text() -> None:
    properties = profile_properties(ProfileState(AVA, URL, (SOAP,)))
    assert properties[DUE_PROPERTY] is True
    assert properties["Repeat Cart URL"] == URL
    assert json.loads(properties[DUE_PRODUCTS_PROPERTY]) == [
        {
            "title": "Lavender Soap",
            "variant": "Large",
            "quantity": 2,
            "image_url": "https://cdn.example.com/soap.png",
            "price": "12.50",
        }
    ]


def test_a_profile_not_due_says_false_and_an_empty_list() -> None:
    properties = profile_properties(ProfileState(AVA, URL, ()))
    assert properties[DUE_PROPERTY] is False
    assert properties[DUE_PRODUCTS_PROPERTY] == "[]"


def test_no_link_leaves_the_cart_url_out_rather_than_null() -> None:
    assert "Repeat Cart URL" not in profile_properties(ProfileState(AVA, None, ()))


def test_the_entry_carries_the_identifiers_klaviyo_takes() -> None:
    entry = profile_entry(ProfileState(AVA, URL, ()))
    assert entry is not None
    assert entry["type"] == "profile"
    assert {k: v for k, v in entry["attributes"].items() if k != "properties"} == {
        "email": "ava@example.com",
        "phone_number": "+14155552671",
        "external_id": "5551234",
    }
    nobody = Recipient(email="not an email", phone=None, external_id=None)
    assert profile_entry(ProfileState(nobody, URL, ())) is None


def test_the_fingerprint_changes_exactly_when_the_profile_does() -> None:
    due = profile_entry(ProfileState(AVA, URL, (SOAP,)))
    same = profile_entry(ProfileState(AVA, URL, (SOAP,)))
    assert due is not None and same is not None
    assert fingerprint(due) == fingerprint(same)
    variants = [
        ProfileState(AVA, URL, ()),  # no longer due
        ProfileState(AVA, URL + "2", (SOAP,)),  # link rotated
        ProfileState(AVA, URL, (ProfileProduct("Lavender Soap", "Large", 3, None, 1250),)),
        ProfileState(Recipient("new@example.com", None, "5551234"), URL, (SOAP,)),
    ]
    prints = {fingerprint(e) for s in variants if (e := profile_entry(s)) is not None}
    assert len(prints) == len(variants)
    assert fingerprint(due) not in prints


def test_jobs_split_at_ten_thousand_profiles() -> None:
    items = [(n, _entry(n)) for n in range(MAX_JOB_PROFILES * 2 + 1)]
    jobs = list(split_jobs(items))
    assert [len(job) for job in jobs] == [MAX_JOB_PROFILES, MAX_JOB_PROFILES, 1]
    assert [key for job in jobs for key, _ in job] == list(range(len(items)))  # order kept


def test_jobs_split_at_five_megabytes_measured_as_sent() -> None:
    # ~2 KB per profile: 10,000 of them would be ~20 MB, so bytes decide, not the count
    items = [(n, _entry(n, padding=2000)) for n in range(6000)]
    jobs = list(split_jobs(items))
    assert len(jobs) > 1
    sizes = [len(encoded(bulk_import_body([e for _, e in job]))) for job in jobs]
    assert all(size <= MAX_JOB_BYTES for size in sizes)
    # each job was full: the next profile would not have fitted
    for next_job, size in zip(jobs[1:], sizes, strict=False):
        assert size + 1 + len(encoded(next_job[0][1])) > MAX_JOB_BYTES
    assert sum(len(job) for job in jobs) == len(items)


def test_the_byte_limit_is_exact_to_the_byte() -> None:
    items = [(n, _entry(n)) for n in range(3)]
    whole = len(encoded(bulk_import_body([e for _, e in items])))
    assert [len(j) for j in split_jobs(items, max_bytes=whole)] == [3]
    assert [len(j) for j in split_jobs(items, max_bytes=whole - 1)] == [2, 1]


def test_a_profile_too_large_for_any_job_is_refused() -> None:
    with pytest.raises(ValueError, match="one profile alone"):
        list(split_jobs([(1, _entry(1, padding=200))], max_bytes=200))


def test_nothing_to_send_makes_no_job() -> None:
    assert list(split_jobs([])) == []
