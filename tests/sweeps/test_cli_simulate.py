"""``hwsim simulate`` and ``hwsim calibrate`` end to end through the CLI entry point."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import models
from hwsim import BitPolicy
from sweeps.cli import build_parser, main
from sweeps.commands.simulate import parse_bits

PREFIX = {"n": 1e-9, "µ": 1e-6, "m": 1e-3, "": 1.0, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def test_list_shows_presets(capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("dadiannao", "stripes", "loom", "bismo", "pragmatic", "cpu-bitserial"):
        assert name in out


def test_simulate_prints_layers_totals_and_writes_csv(tmp_path, capsys):
    csv = tmp_path / "out.csv"
    assert (
        main(
            [
                "simulate",
                "--model",
                "mlp_digits",
                "--hardware",
                "stripes",
                "--bits",
                "4/3",
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    df = pd.read_csv(csv)
    assert len(df) >= 2 and (df["a_bits_run"] == 3).all() and (df["w_bits_run"] == 16).all()
    assert "TOTAL" in out and "stall" in out and "dram%" in out
    for name in df["name"]:
        assert name in out
    # The printed total is the CSV's sum.
    assert f"{df['cycles'].sum():.0f}" in out


def test_simulate_policy_file_and_default_bits(tmp_path, capsys):
    assert (
        main(
            [
                "simulate",
                "--model",
                "mlp_digits",
                "--hardware",
                "loom",
                "--csv",
                str(tmp_path / "d.csv"),
            ]
        )
        == 0
    )
    assert "w8a8" in capsys.readouterr().out  # no published bits: 8/8
    names = pd.read_csv(tmp_path / "d.csv")["name"].tolist()
    policy = BitPolicy({n: (2, 5) for n in names})
    policy.save(tmp_path / "p.json")
    assert (
        main(
            [
                "simulate",
                "--model",
                "mlp_digits",
                "--hardware",
                "loom",
                "--policy",
                str(tmp_path / "p.json"),
                "--csv",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    df = pd.read_csv(tmp_path / "p.csv")
    assert (df["w_bits"] == 2).all() and (df["a_bits"] == 5).all()


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--model", "mlp_digits", "--hardware", "stripes", "--bits", "4x4"],
        ["simulate", "--model", "no_such_net", "--hardware", "stripes"],
        ["simulate", "--model", "mlp_digits", "--hardware", "no_such_hw"],
        ["simulate", "--model", "mlp_digits", "--hardware", "bismo", "--bits", "32/8"],
        ["simulate", "--model", "mlp_digits"],
    ],
)
def test_bad_input_is_a_clean_error(argv, capsys):
    assert main(argv) == 2
    assert "hwsim: error:" in capsys.readouterr().err


def simulate_csv(tmp_path, capsys, *argv: str) -> tuple[pd.DataFrame, str]:
    csv = tmp_path / f"{len(list(tmp_path.iterdir()))}.csv"
    assert main(["simulate", *argv, "--csv", str(csv)]) == 0
    return pd.read_csv(csv), capsys.readouterr().out


@given(w=st.integers(1, 32), a=st.integers(1, 32))
def test_bits_take_both_spellings(w, a):
    assert parse_bits(f"{w}/{a}") == parse_bits(f"w{w}a{a}") == parse_bits(f"W{w}/A{a}") == (w, a)


def test_table_units_scale_to_each_column(tmp_path, capsys):
    df, out = simulate_csv(
        tmp_path, capsys, "--model", "resnet20", "--hardware", "bitfusion", "--bits", "w4a4"
    )
    lines = out.splitlines()
    header = lines[1].split()
    total = next(line for line in lines if line.startswith("TOTAL")).split()[1:]
    cells = dict(zip(header[3:], total, strict=True))  # TOTAL has no bits columns
    for column, key, per in [
        ("latency", "latency_s", 1),
        ("energy", "energy_j", 1),
        ("dram_rd", "dram_read_bytes", 1),
        ("w_mem", "weight_bits", 8),
    ]:
        name = next(h for h in header if h.startswith(column + "["))
        prefix = re.fullmatch(rf"{column}\[(.*?)(s|J|B)\]", name).group(1)
        shown = float(cells[name])
        assert 1 <= shown < 1024  # the column's unit fits its largest value, the total
        assert np.isclose(shown * PREFIX[prefix], df[key].sum() / per, rtol=5e-4)
    assert "KB" not in out and " MB" not in out  # binary prefixes only


def test_saved_workload_and_onnx_files_simulate(tmp_path, capsys):
    with __import__("torch").device("meta"):
        net = models.build("mlp_digits")
    workload = models.extract_workload(net, models.example_input("mlp_digits", 3).to("meta"))
    workload.save(tmp_path / "mine.npz")
    df, out = simulate_csv(
        tmp_path, capsys, "--model", str(tmp_path / "mine.npz"), "--hardware", "loom"
    )
    assert df["name"].tolist() == list(workload.layer_names) and "batch 3" in out
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from tests.onnx_graphs import qonnx_graph

    onnx.save(qonnx_graph(3, 5, 2, 4, bipolar=False), str(tmp_path / "brevitas.onnx"))
    df, out = simulate_csv(
        tmp_path, capsys, "--model", str(tmp_path / "brevitas.onnx"), "--hardware", "loom"
    )
    assert "bits from the file's quantizers" in out
    assert df[["w_bits", "a_bits"]].values.tolist() == [[3, 5], [2, 4], [32, 32]]
    df, _ = simulate_csv(
        tmp_path,
        capsys,
        "--model",
        str(tmp_path / "brevitas.onnx"),
        "--hardware",
        "loom",
        "--bits",
        "w6a6",
    )
    assert (df["w_bits"] == 6).all()  # the options override the file's bits


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == models.names()


def test_every_help_shows_its_defaults():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                formatter = sub._get_formatter()  # this option's own help entry, as printed
                formatter.add_argument(action)
                assert "default" in formatter.format_help(), (name, action.option_strings[-1])


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    parser = build_parser()
    monkeypatch.setattr("sweeps.cli.build_parser", lambda: parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["models"].set_defaults(func=interrupted)
    assert main(["models"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "hwsim: interrupted"


def _table(out: str) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, layer rows and TOTAL row of a printed simulate table."""
    lines = out.splitlines()
    header = lines[1].split()
    rule = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    rows = [line.split() for line in lines[rule[0] + 1 : rule[1]]]
    total = lines[rule[1] + 1].split()
    return header, rows, total


def test_cpu_table_names_the_kernel_and_hides_zero_columns(tmp_path, capsys):
    df, out = simulate_csv(
        tmp_path, capsys, "--model", "mlp_digits", "--hardware", "cpu-best", "--bits", "2/2"
    )
    header, rows, _ = _table(out)
    assert header[3] == "impl"
    assert [r[3] for r in rows] == list(df["implementation"])  # the CSV names the kernel too
    from hwsim.hardware.cpu import IMPLEMENTATIONS

    assert set(df["implementation"]) <= set(IMPLEMENTATIONS) - {"best"}
    # A CPU has no modelled on-chip buffer energy: the all-zero column is left out.
    assert (df["sram_energy_j"] == 0).all()
    assert not any(h.startswith("sram%") or h.startswith("sram[") for h in header)
    assert "stall" not in header or (df["stall_cycles"] != 0).any()


def test_energy_split_is_percent_of_each_row_and_one_unit_in_joules(tmp_path, capsys):
    argv = ("--model", "mlp_digits", "--hardware", "stripes", "--bits", "4/4")
    df, out = simulate_csv(tmp_path, capsys, *argv)
    header, rows, _ = _table(out)
    cols = [h for h in header if h.endswith("%")]
    assert cols == ["core%", "sram%", "dram%"]
    for r, (_, layer) in zip(rows, df.iterrows(), strict=True):
        cells = dict(zip(header, r, strict=True))
        for col, key in zip(
            cols, ("compute_energy_j", "sram_energy_j", "dram_energy_j"), strict=True
        ):
            assert abs(float(cells[col]) - 100 * layer[key] / layer["energy_j"]) <= 0.5
    _, out = simulate_csv(tmp_path, capsys, *argv, "--energy-split", "J")
    header = out.splitlines()[1].split()
    units = {
        re.fullmatch(r".*\[(.*)\]", h).group(1)
        for h in header
        if re.fullmatch(r"(energy|core|sram|dram)\[.*J\]", h)
    }
    assert len(units) == 1  # every energy column in the energy column's unit


def test_csv_cycles_are_integers(tmp_path, capsys):
    df, _ = simulate_csv(
        tmp_path, capsys, "--model", "mlp_digits", "--hardware", "cpu-bitserial", "--bits", "2/2"
    )
    assert df["cycles"].dtype.kind == "i" and df["stall_cycles"].dtype.kind == "i"


def test_notes_are_printed_once_per_reason(capsys):
    assert main(["simulate", "--model", "resnet20", "--hardware", "stripes", "--bits", "4/4"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "bit-parallel at 16 bits" in notes[0] and "cannot run" not in notes[0]
    assert re.search(r": (\d+) of \1 layers", notes[0])
