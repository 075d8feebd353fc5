"""``hwsim hardware show`` / ``list``: every field of every preset with its value, unit and
source, and a peak throughput that matches the array's own arithmetic."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hwsim.hardware import load_hardware, preset_names
from hwsim.hardware.describe import UNKNOWN_UNIT, field_unit, peak_macs_per_s
from sweeps.cli import main


def _show(capsys, preset: str) -> str:
    assert main(["hardware", "show", preset]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("preset", preset_names())
def test_show_prints_every_field_with_unit_and_source(preset, capsys):
    out = _show(capsys, preset)
    lines = out.splitlines()
    hw = load_hardware(preset)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["field", "value"])
    unit_col = lines[header].index("unit")
    source_col = lines[header].index("source")
    rows = {line.split()[0]: line for line in lines[header + 2 :] if line and line[0] != " "}
    for f in dataclasses.fields(hw):
        if f.name == "sources":
            continue
        assert f.name in rows, f.name
        line = rows[f.name]
        unit = line[unit_col:source_col].strip()
        source = line[source_col:].strip()
        assert unit and unit != UNKNOWN_UNIT, (f.name, line)
        assert unit == field_unit(f.name)
        assert source, (f.name, line)
        value = getattr(hw, f.name)
        shown = line[len(f.name) : unit_col].strip()
        if isinstance(value, bool):
            assert shown == str(value).lower()
        elif isinstance(value, int | float):
            assert float(shown.split(" (")[0]) == pytest.approx(value, rel=1e-5)
    # A field the preset sets carries the preset's own source, word for word.
    for key, text in hw.sources.items():
        if key in rows:
            assert text in rows[key]
    assert "peak throughput" in out and "w8a8" in out


def _peak(preset, w, a):
    return peak_macs_per_s(load_hardware(preset), w, a)


def test_peak_throughput_is_the_arrays_arithmetic():
    # Independent of the cost model: MAC slots x clock / serial cycles per MAC.
    d = load_hardware("dadiannao")
    assert _peak("dadiannao", 8, 8) == pytest.approx(d.rows * d.cols * d.lanes * d.frequency_hz)
    s = load_hardware("stripes")
    for a in (16, 8, 4, 1):  # activations bit-serial, weights parallel
        want = s.rows * s.cols * s.lanes * s.frequency_hz / a
        assert _peak("stripes", 4, a) == pytest.approx(want)
    b = load_hardware("bismo")
    for w, a in ((1, 1), (2, 4), (8, 8)):  # both operands bit-serial
        want = b.rows * b.cols * b.lanes * b.frequency_hz / (w * a)
        assert _peak("bismo", w, a) == pytest.approx(want)
    f = load_hardware("bitfusion")
    for bits in (8, 4, 2):  # fusion units split into (8 / bits)^2 bit-bricks
        want = f.rows * f.cols * (8 // bits) ** 2 * f.frequency_hz
        assert _peak("bitfusion", bits, bits) == pytest.approx(want)
    assert _peak("bitfusion", 16, 16) is None  # the exact simulator refuses > 8 bits


def test_list_names_every_preset_with_clock_array_and_peak(capsys):
    assert main(["hardware", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    names = [line.split()[0] for line in lines[2 : 2 + len(preset_names())]]
    assert names == preset_names()
    for line in lines[2 : 2 + len(preset_names())]:
        assert re.search(r"\d+(\.\d+)? [kMG]?Hz", line)
        assert re.search(r"MACs/s|cannot run", line)


def test_simulate_list_is_the_hardware_list(capsys):
    assert main(["simulate", "--list"]) == 0
    a = capsys.readouterr().out
    assert main(["hardware", "list"]) == 0
    assert capsys.readouterr().out == a


def test_cpu_show_says_whose_machine_was_measured(capsys):
    out = _show(capsys, "cpu-best")
    assert "hwsim calibrate" in out and "not necessarily yours" in out


def test_unknown_preset_is_a_clean_error(capsys):
    assert main(["hardware", "show", "no-such-preset"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_show_prints_the_area_where_a_model_exists(capsys):
    import hwsim

    if getattr(hwsim, "area", None) is None:
        pytest.skip("no area model in this tree")
    out = _show(capsys, "stripes")
    line = next(x for x in out.splitlines() if x.startswith("area: "))
    shown = float(line.split()[1])
    assert shown == pytest.approx(hwsim.area("stripes").total_mm2, rel=1e-3)
    out = _show(capsys, "cpu-best")
    assert "area: no area model" in out
