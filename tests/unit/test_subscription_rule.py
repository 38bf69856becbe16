"""Primed For Subscription's rule: a steady cadence, and the plan closest to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.engine.subscription import closest_plan, steady_cadence
from services.shopify.parse import selling_plan_records

START = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _days(*gaps: int) -> list[datetime]:
    times = [START]
    for gap in gaps:
        times.append(times[-1] + timedelta(days=gap))
    return times


def test_three_purchase_days_with_steady_gaps_give_the_mean_gap() -> None:
    assert steady_cadence(_days(30, 30)) == 30.0
    assert steady_cadence(_days(24, 36)) == 30.0  # CV 6 / 30 = 0.2
    assert steady_cadence(_days(28, 32, 30)) == 30.0


def test_too_few_days_or_uneven_gaps_give_none() -> None:
    assert steady_cadence(_days(30)) is None
    assert steady_cadence(_days(15, 45)) is None  # CV 0.5
    assert steady_cadence(_days(22, 38)) is None  # CV 8 / 30 ≈ 0.27
    # two orders on one day are one purchase
    assert steady_cadence([*_days(30), START + timedelta(hours=3)]) is None


def test_the_closest_interval_wins_and_ties_keep_the_shops_order() -> None:
    plans = [("two weeks", 14.0), ("month", 30.4375), ("six weeks", 42.0), ("none", None)]
    pick = closest_plan(plans, 30.0, lambda plan: plan[1])
    assert pick == ("month", 30.4375)
    assert closest_plan(plans, 21.0, lambda plan: plan[1]) == ("two weeks", 14.0)
    assert closest_plan([("fixed", None)], 30.0, lambda plan: plan[1]) == ("fixed", None)
    assert closest_plan([], 30.0, lambda plan: plan[1]) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"__typename": "MoneyV2", "amount": "2.5"}, (None, 250)),
        ({"percentage": 15}, (15.0, None)),
        ({}, (None, None)),
    ],
)
def test_plans_are_read_from_the_admin_api_shapes(value: dict, expected: tuple) -> None:
    groups = [
        {
            "name": "Subscribe",
            "sellingPlans": {
                "nodes": [
                    {
                        "id": "gid://shopify/SellingPlan/1",
                        "name": "Every 3 weeks",
                        "deliveryPolicy": {"interval": "WEEK", "intervalCount": 3},
                        "pricingPolicies": [
                            {"adjustmentType": "FIXED_AMOUNT", "adjustmentValue": value}
                        ],
                    },
                    {"id": "gid://shopify/SellingPlan/2", "name": "Prepaid", "deliveryPolicy": {}},
                ]
            },
        }
    ]
    recurring, fixed = selling_plan_records(groups)
    assert (recurring.adjustment_percent, recurring.adjustment_cents) == expected
    assert recurring.interval_days == 21.0 and recurring.group_name == "Subscribe"
    assert fixed.interval_days is None and fixed.adjustment_type is None
