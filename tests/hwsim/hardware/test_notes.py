"""The report's notes say what happened, once per run with the layer count."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, Workload
from hwsim.hardware import simulate


def _fcs(n: int) -> Workload:
    return Workload.from_layers(
        "fcs",
        [
            {
                "name": f"fc{i}",
                "kind": "linear",
                "batch": 1,
                "in_channels": 64 * (i + 1),
                "out_channels": 64,
            }
            for i in range(n)
        ],
    )


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 12), w=st.integers(1, 15), a=st.integers(1, 16))
def test_stripes_weights_note_is_one_line_with_the_layer_count(n, w, a):
    wl = _fcs(n)
    notes = simulate(wl, BitPolicy.uniform(wl, w, a), "stripes").notes
    assert len(notes) == 1  # not one per layer
    assert "runs weights bit-parallel at 16 bits (Stripes is activation-serial)" in notes[0]
    assert f": {n} of {n} layers" in notes[0]
    assert "cannot run" not in notes[0]


def test_layers_run_as_asked_get_no_note():
    wl = _fcs(4)
    bits = {"fc0": (16, 4), "fc1": (4, 4), "fc2": (16, 8), "fc3": (2, 2)}
    notes = simulate(wl, BitPolicy(bits), "stripes").notes
    # Two layers moved (fc1, fc3), for the same reason: one note counting both.
    assert len(notes) == 1
    assert "2 of 4 layers (fc1, fc3)" in notes[0]


def test_cpu_best_says_which_kernel_ran_and_why():
    wl = _fcs(6)
    rep = simulate(wl, BitPolicy.uniform(wl, 2, 2), "cpu-best")
    impl = rep.layers["implementation"].astype(int)
    moved = int((rep.layers["w_bits_run"] != 2).sum())
    if moved == 0:
        pytest.skip("the calibrated model picks bit-serial for every layer here")
    text = " | ".join(rep.notes)
    assert "cannot run" not in text
    assert "cpu-best ran int8 here (faster than bit-serial at w2a2)" in text or "ran fp32" in text
    counted = sum(int(m.group(1)) for m in re.finditer(r": (\d+) of 6 layers", text))
    from hwsim.hardware.cpu import IMPLEMENTATIONS

    # A layer moves exactly when a kernel of other widths ran it (int8 rounds up, fp32 runs
    # float); bit-serial and the LUT kernel run the bits asked.
    other = {IMPLEMENTATIONS.index("int8"), IMPLEMENTATIONS.index("fp32")}
    assert counted == moved == int(impl.isin(other).sum())


def test_missing_measurement_note_says_how_to_supply_it():
    wl = _fcs(3)
    notes = simulate(wl, BitPolicy.uniform(wl, 4, 4), "loom").notes
    missing = [n for n in notes if "no measured" in n]
    assert len(missing) == 1
    assert "3 of 3 layers" in missing[0]
    assert "quant.export" in missing[0] and "--policy" in missing[0]
