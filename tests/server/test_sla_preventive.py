"""The preventive cell of an SLA policy: policy data with a round trip, clear errors, a
client's own cell over its preset's, and the deadline it gives."""

import pytest

from server.predict.decision import Policy
from server.sla import PRESETS, SlaConfigError, SlaPolicy
from server.sla.policy import PreventiveTargets
from server.tickets.policy import parse_sla_settings


def test_every_preset_carries_the_default_preventive_cell() -> None:
    for policy in PRESETS.values():
        assert policy.preventive == PreventiveTargets(margin_days=7, min_notice_days=3)


def test_preventive_cell_round_trips_and_defaults_when_absent() -> None:
    custom = PRESETS["ring_road"].with_cells({}, name="acme")
    data = custom.to_dict()
    assert data["preventive"] == {"margin_days": 7, "min_notice_days": 3}
    data["preventive"] = {"margin_days": 14, "min_notice_days": 0}
    back = SlaPolicy.from_dict(data)
    assert back.preventive == PreventiveTargets(14, 0)
    del data["preventive"]
    assert SlaPolicy.from_dict(data).preventive == PreventiveTargets()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ({"margin_days": -1}, "margin_days must be a whole number ≥ 0"),
        ({"margin_days": 2.5}, "margin_days must be a whole number ≥ 0"),
        ({"min_notice_days": True}, "min_notice_days must be a whole number ≥ 0"),
        ({"respond_minutes": 30}, "unknown field(s) respond_minutes"),
        ("7 days", "expected a mapping"),
    ],
)
def test_a_bad_preventive_cell_is_refused_naming_the_field(cell: object, message: str) -> None:
    with pytest.raises(SlaConfigError, match="preventive") as err:
        parse_sla_settings({"preset": "security_default", "preventive": cell})
    assert message in str(err.value)


def test_a_clients_preventive_cell_replaces_its_presets() -> None:
    policy, *_ = parse_sla_settings({"preset": "city_county", "preventive": {"margin_days": 10}})
    assert policy.name == "city_county"
    assert policy.preventive == PreventiveTargets(margin_days=10, min_notice_days=3)
    assert policy.cells == PRESETS["city_county"].cells


def test_the_forecast_deadline_rule_is_the_cells() -> None:
    policy = Policy.of_cell(PreventiveTargets(margin_days=10, min_notice_days=2))
    assert (policy.margin_days, policy.min_notice_days) == (10, 2)
