"""``hwsim simulate`` and ``hwsim calibrate`` end to end through the CLI entry point."""

from __future__ import annotations

import pandas as pd
import pytest

from hwsim import BitPolicy
from sweeps.cli import main


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
    assert "TOTAL" in out and "stall" in out and "dram_uJ" in out
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
    assert "w8/a8" in capsys.readouterr().out  # no published bits: 8/8
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
