"""Step rules are objects their families own: every data-dependent preset names a registered
rule whose stored name reads back as the same rule, and measuring by object or by name gives
the same numbers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.hardware import load_hardware, preset_names
from hwsim.hardware.skeleton import SkeletonConfig
from hwsim.stepstats import DEFAULT_RULES, RULES, MeasuredSteps, step_cycles, step_rule


def _measured_presets():
    out = []
    for name in preset_names():
        hw = load_hardware(name)
        if isinstance(hw, SkeletonConfig) and hw.measured_steps() is not None:
            out.append(name)
    return out


@pytest.mark.parametrize("preset", _measured_presets())
def test_a_family_rule_is_registered_and_its_name_reads_back(preset):
    rule = load_hardware(preset).measured_steps()
    assert isinstance(rule, MeasuredSteps) and RULES[rule.kind] is type(rule)
    assert step_rule(rule.key) == rule
    assert rule.key in DEFAULT_RULES  # the paper configurations are measured by default


def test_every_default_rule_reads_back_to_its_name():
    assert [step_rule(k).key for k in DEFAULT_RULES] == list(DEFAULT_RULES)


@settings(max_examples=10)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_measuring_by_object_or_by_name_agrees(seed, fc):
    rng = np.random.default_rng(seed)
    if fc:
        w, a, conv = rng.integers(-7, 8, (5, 40)), rng.integers(0, 256, 40), None
    else:
        w, a = rng.integers(-7, 8, (4, 3, 3, 3)), rng.integers(0, 256, (3, 6, 6))
        conv = ((1, 1), (1, 1), (1, 1), 1)
    rules = [step_rule(k) for k in DEFAULT_RULES]
    assert step_cycles(w, a, 4, conv, rules) == step_cycles(w, a, 4, conv, DEFAULT_RULES)
