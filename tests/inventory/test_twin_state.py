"""Twin keys, values and drift (inventory.twin.state, pure): desired state is a partial assertion."""

import pytest

from inventory.twin import state


def entries(**values) -> dict:
    return {name: {"value": value} for name, value in values.items()}


@pytest.mark.parametrize(
    ("desired", "reported", "met"),
    [
        ({"mode": "auto"}, {"mode": "auto", "interval": 60}, True),  # an object asserts only what it names
        ({"mode": "auto", "x": {"y": 1}}, {"mode": "auto", "x": {"y": 1, "z": 2}}, True),
        ({"mode": "auto"}, {"mode": "manual"}, False),
        ({"mode": "auto"}, "auto", False),
        ([1, 2], [1, 2, 3], False),  # arrays are exact
        (1, 1.0, True),
        (True, 1, False),  # a boolean is not a number
        ("on", "on", True),
        (None, None, True),
    ],
)
def test_desired_is_a_partial_assertion(desired, reported, met):
    assert state.matches(desired, reported) is met


def test_drift_lists_unmet_and_unreported_properties():
    desired = entries(mode="auto", interval=60, led="on")
    reported = entries(mode="auto", interval=30, temperature=21)
    assert state.drift(desired, reported) == ["interval", "led"]


def test_keys_values_and_property_names():
    assert state.split_key("thing.s-01.temperature") == ("thing", "s-01", "temperature")
    assert state.decode_value(b'{"a": 1}') == {"a": 1} and state.decode_value(b"plain text") == "plain text"
    assert state.decode_value(b"") is None
    assert all(state.valid_property(p) for p in ("mode", "set-point_2", "a=b"))
    assert not any(state.valid_property(p) for p in ("", "a.b", "a*", ">", "a b", "x" * 129, None))
