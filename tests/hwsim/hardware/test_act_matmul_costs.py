"""Activation x activation rows (attention scores and values) in every hardware family: each
batch element is its own GEMM with its own second operand (no reuse across the batch), that
operand is read from DRAM whole (the KV cache in decode), and its bits are the policy's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, Workload
from hwsim.hardware import cost_table, load_hardware, preset_names, simulate

SKELETON = ("bismo", "dadiannao", "loom", "pragmatic", "stripes")
CPU = ("cpu-bitserial", "cpu-int8", "cpu-fp32")


def _row(name: str, kind: str, batch: int, rows: int, k: int, n: int) -> dict:
    return {
        "name": name,
        "kind": kind,
        "batch": batch,
        "in_channels": k,
        "out_channels": n,
        "in_h": rows,
        "out_h": rows,
    }


def _bits(preset: str) -> tuple[int, int]:
    return (8, 8) if preset.startswith(("cpu-int8", "cpu-fp32", "bitfusion")) else (4, 6)


@settings(max_examples=10, deadline=None)
@given(
    preset=st.sampled_from([*SKELETON, "bitfusion-corrected"]),
    g=st.integers(2, 6),
    rows=st.integers(1, 40),
    k=st.integers(1, 200),
    n=st.integers(1, 200),
)
def test_a_batched_row_costs_what_its_gemms_cost_apart(preset, g, rows, k, n):
    """``g`` independent products in one row against the same products as ``g`` rows:
    compute cycles, energy and DRAM bytes add up (nothing is shared across the batch)."""
    hw = load_hardware(preset)
    w, a = _bits(preset)
    one = Workload.from_layers("one", [_row("x", "act_matmul", g, rows, k, n)])
    apart = Workload.from_layers(
        "apart", [_row(f"x{i}", "act_matmul", 1, rows, k, n) for i in range(g)]
    )
    r1 = simulate(one, BitPolicy.uniform(one, w, a), hw)
    rg = simulate(apart, BitPolicy.uniform(apart, w, a), hw)
    for key in ("energy_j", "dram_bytes", "weight_bits"):
        assert r1.totals[key] == pytest.approx(rg.totals[key], rel=1e-9)
    compute = lambda r: (r.layers["cycles"] - r.layers["stall_cycles"]).sum()  # noqa: E731
    assert compute(r1) == pytest.approx(compute(rg), rel=1e-9)


@pytest.mark.parametrize("preset", preset_names())
def test_no_weight_reuse_across_the_batch(preset):
    """The same GEMM shape as a weight GEMM (one weight for every row) and as an act x act row
    (one second operand per batch element): the act row reads ``g`` times the operand, and
    holds it as activations, not weights (nothing of it is stored)."""
    g, rows, k, n = 8, 4, 64, 128
    wl = Workload.from_layers(
        "w",
        [_row("weights", "linear", g, rows, k, n), _row("attn", "act_matmul", g, rows, k, n)],
    )
    w, a = _bits(preset)
    report = simulate(wl, BitPolicy.uniform(wl, w, a), load_hardware(preset))
    rep = report.layers.set_index("name")
    assert rep.loc["weights", "weight_bits"] == k * n * rep.loc["weights", "w_bits_run"] > 0
    assert rep.loc["attn", "weight_bits"] == 0
    second = g * k * n * rep.loc["attn", "w_bits_run"]
    assert rep.loc["attn", "activation_bits"] == rep.loc["weights", "activation_bits"] + second
    assert report.totals["total_mem_w_bits"] == k * n * w
    assert rep.loc["attn", "dram_read_bytes"] >= g * k * n * rep.loc["attn", "w_bits_run"] / 8
    assert rep.loc["attn", "dram_read_bytes"] > rep.loc["weights", "dram_read_bytes"]


@pytest.mark.parametrize("preset", ["loom", "bismo", "cpu-bitserial"])
def test_both_operands_are_bit_serial(preset):
    """Families serial in both operands: the second operand's bits (the policy's w_bits for
    an act row) scale the compute like the first's."""
    wl = Workload.from_layers("s", [_row("attn", "act_matmul", 4, 64, 256, 256)])
    hw = load_hardware(preset)
    table = cost_table(wl, hw, w_bits=(2, 8), a_bits=(2, 8))
    lat = np.asarray(table.metric("latency"))[0]
    assert lat[1, 0] > lat[0, 0] and lat[0, 1] > lat[0, 0]


def test_cpu_packs_an_activation_operand_at_run_time():
    """A weight is packed once ahead of time; an act x act row's second operand is packed on
    every call, so the same product costs more as act x act."""
    wl = Workload.from_layers(
        "p",
        [_row("weights", "linear", 1, 64, 512, 512), _row("attn", "act_matmul", 1, 64, 512, 512)],
    )
    rep = simulate(wl, BitPolicy.uniform(wl, 2, 2), load_hardware("cpu-bitserial"))
    lat = rep.layers.set_index("name")["latency_s"]
    assert lat["attn"] > lat["weights"]
