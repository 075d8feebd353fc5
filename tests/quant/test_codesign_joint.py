"""The joint hardware x bits search on arrays, against an independent brute force: every
policy enumerated with numpy, every design compared by a plain double loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import hwsim
from hwsim import BitPolicy
from hwsim.hardware.report import CostTable
from quant.codesign.budgets import BUDGET_METRICS
from quant.codesign.joint import (
    DesignSearch,
    JointConfig,
    JointResult,
    finetune_order,
    pareto_mask,
    search_designs,
)

KEYS = {"latency": "latency_s", "energy": "energy_j", "memory": "weight_bits"}
MARGIN = 0.02  # no policy total within 2 % under a budget: the knapsack's grid cannot hide one


def reference_pareto(points: np.ndarray) -> np.ndarray:
    """Plain double loop: i is kept unless some j is <= everywhere and < somewhere."""
    n = len(points)
    keep = []
    for i in range(n):
        dominated = False
        for j in range(n):
            if all(points[j][k] <= points[i][k] for k in range(points.shape[1])) and any(
                points[j][k] < points[i][k] for k in range(points.shape[1])
            ):
                dominated = True
        keep.append(not dominated)
    return np.array(keep)


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=n, max_size=n
        )
    )
)
def test_pareto_mask_matches_a_double_loop(rows):
    points = np.array(rows, dtype=float)  # small integers: many ties and equal rows
    assert np.array_equal(pareto_mask(points), reference_pareto(points))


def _configs(n: int):
    base = hwsim.load_hardware("stripes")
    return tuple(base.replace(cols=4 * (i + 1)) for i in range(n))


@st.composite
def problems(draw):
    n_hw = draw(st.integers(1, 4))
    n_layers = draw(st.integers(1, 3))
    w_bits, a_bits = (2, 8), draw(st.sampled_from([(4,), (2, 8)]))
    shape = (n_hw, n_layers, len(w_bits), len(a_bits))
    size = int(np.prod(shape))
    values = st.floats(0.0, 10.0, allow_nan=False, width=32)
    metrics = {
        k: np.array(draw(st.lists(values, min_size=size, max_size=size))).reshape(shape)
        for k in KEYS.values()
    }
    sens = np.array(draw(st.lists(values, min_size=size // n_hw, max_size=size // n_hw))).reshape(
        shape[1:]
    )
    table = CostTable(
        tuple(f"l{i}" for i in range(n_layers)), w_bits, a_bits, metrics, _configs(n_hw)
    )
    names = draw(st.lists(st.sampled_from(BUDGET_METRICS), min_size=1, max_size=2, unique=True))
    budgets = {}
    for m in names:
        flat = table.flat(KEYS[m])
        low, high = flat.min(axis=2).sum(axis=1).min(), flat.max(axis=2).sum(axis=1).max()
        budgets[m] = low + draw(st.floats(0.0, 1.0)) * (high - low) + 1e-6
    area = np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=n_hw, max_size=n_hw)))
    max_area = draw(st.one_of(st.none(), st.floats(0.1, 5.0)))
    return table, sens, budgets, area, max_area


def brute_force(table, sens, budgets, area, max_area):
    """Every policy of every configuration, by enumeration: status and least loss."""
    n_hw, n_layers, n_opts = table.flat("latency_s").shape
    layers = np.arange(n_layers)
    flat_sens = sens.reshape(n_layers, -1)
    status, loss, totals = [], [], []
    for h in range(n_hw):
        if max_area is not None and area[h] > max_area:
            status.append("over area")
            loss.append(np.nan)
            totals.append(None)
            continue
        best, best_totals = np.inf, None
        for choice in itertools.product(range(n_opts), repeat=n_layers):
            c = np.array(choice)
            tot = {k: table.flat(k)[h][layers, c].sum() for k in KEYS.values()}
            near = [b * (1 - MARGIN) < tot[KEYS[m]] <= b * (1 + 1e-9) for m, b in budgets.items()]
            assume(not any(near))  # off the knapsack's grid: then it must be exact
            if all(tot[KEYS[m]] <= b for m, b in budgets.items()):
                value = flat_sens[layers, c].sum()
                if value < best:
                    best, best_totals = value, tot
        status.append("ok" if np.isfinite(best) else "over budget")
        loss.append(best if np.isfinite(best) else np.nan)
        totals.append(best_totals)
    return np.array(status), np.array(loss), totals


@given(problems())
def test_each_configuration_gets_the_brute_force_optimum(problem):
    table, sens, budgets, area, max_area = problem
    status, loss, _ = brute_force(table, sens, budgets, area, max_area)
    found = search_designs(table, sens, budgets, area, max_area)
    assert list(found.status) == list(status)
    ok = status == "ok"
    np.testing.assert_allclose(found.predicted_loss[ok], loss[ok], rtol=1e-9, atol=1e-9)
    assert np.all(np.isnan(found.predicted_loss[~ok]))
    layers = np.arange(len(table.layer_names))
    for h in np.flatnonzero(ok):
        chosen = found.choice[h]
        # The chosen policy's own totals, read independently, fit every budget and the area.
        for m, b in budgets.items():
            real = table.flat(KEYS[m])[h][layers, chosen].sum()
            assert real <= b * (1 + 1e-9)
            assert found.totals[KEYS[m]][h] == pytest.approx(real)
        assert max_area is None or area[h] <= max_area
    # Pareto flags: an independent double loop over the designs found, each point read from
    # the table at the chosen options (several policies may tie on the least loss).
    points = np.array(
        [
            [
                loss[h],
                table.flat("latency_s")[h][layers, found.choice[h]].sum(),
                table.flat("energy_j")[h][layers, found.choice[h]].sum(),
                area[h],
            ]
            for h in np.flatnonzero(ok)
        ]
    ).reshape(-1, 4)
    expected = np.zeros(len(status), bool)
    expected[ok] = reference_pareto(points) if len(points) else []
    assert np.array_equal(found.pareto, expected)


def test_the_area_limit_is_respected_and_says_why():
    cfgs = _configs(3)
    shape = (3, 2, 1, 1)
    metrics = {k: np.ones(shape) for k in KEYS.values()}
    table = CostTable(("a", "b"), (8,), (8,), metrics, cfgs)
    found = search_designs(
        table, np.zeros((2, 1, 1)), {"latency": 10.0}, [1.0, np.nan, 3.0], max_area=2.0
    )
    assert list(found.status) == ["ok", "no area", "over area"]
    assert list(found.pareto) == [True, False, False]
    # Without a limit, a configuration without an area model still competes (area unknown).
    free = search_designs(table, np.zeros((2, 1, 1)), {"latency": 10.0}, [1.0, np.nan, 3.0])
    assert list(free.status) == ["ok", "ok", "ok"]


def _search(loss, area, choices):
    n = len(loss)
    return DesignSearch(
        np.array(["ok"] * n),
        np.array(choices),
        np.array(loss, float),
        {"latency_s": np.ones(n), "energy_j": np.ones(n), "weight_bits": np.ones(n)},
        np.array(area, float),
        np.ones(n, bool),
    )


def test_finetune_order_takes_distinct_policies_least_loss_first():
    search = _search([0.3, 0.1, 0.1, 0.2], [1, 2, 1, 1], [[0], [1], [1], [2]])
    # designs 1 and 2 share a policy: the smaller (2) stands for it.
    assert finetune_order(search, 5) == [2, 3, 0]
    assert finetune_order(search, 2) == [2, 3]
    assert finetune_order(search, 0) == []


def test_joint_config_checks_its_fields():
    from hwsim.errors import HwsimError

    for bad in ({"max_area": 0}, {"max_area": float("inf")}, {"finetune_top": -1}):
        with pytest.raises(HwsimError):
            JointConfig(**bad)
    with pytest.raises(HwsimError, match="knapsack"):
        JointConfig(method="ebs")


def test_outputs_round_trip(tmp_path):
    """designs.csv holds one row per configuration; each Pareto design's hardware.toml reads
    back as its config, its policy.json as its policy."""
    import pandas as pd

    from quant.codesign.joint import _designs_frame
    from quant.codesign.joint_report import design_folder, write_joint

    wl = hwsim.Workload.from_layers(
        "tiny",
        [
            {"name": "a", "kind": "linear", "batch": 1, "in_channels": 8, "out_channels": 4},
            {"name": "b", "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 2},
        ],
    )
    cfgs = (*_configs(2), hwsim.load_hardware("bitfusion"))
    table = hwsim.cost_table(wl, list(cfgs), [2, 4, 8], [2, 4, 8])
    rng = np.random.default_rng(0)
    sens = rng.random((2, 3, 3))
    budget = 0.8 * float(table.uniform_total("latency_s", 8, 8)[0])
    search = search_designs(table, sens, {"latency": budget}, [1.0, 2.0, np.nan])
    assert search.ok.any()
    policies = {int(h): BitPolicy(table.bits(search.choice[h])) for h in np.flatnonzero(search.ok)}
    designs = _designs_frame(cfgs, search, policies, {}, wl)
    result = JointResult(
        JointConfig(budgets={"latency": 0.8}),
        cfgs,
        cfgs[0],
        designs,
        policies,
        {"latency": budget},
        {"latency": budget / 0.8, "energy": 1.0, "memory": 1.0},
        0.9,
        search,
    )
    write_joint(result, tmp_path)
    back = pd.read_csv(tmp_path / "designs.csv")
    assert len(back) == len(cfgs)
    assert list(back["pareto"]) == list(search.pareto)
    assert back["accuracy"].isna().all()
    assert (tmp_path / "report.md").read_text().startswith("# hwsim codesign")
    assert (tmp_path / "accuracy_latency.png").stat().st_size > 0
    for h in result.pareto:
        folder = tmp_path / design_folder(result, h)
        assert hwsim.load_hardware(folder / "hardware.toml") == cfgs[h]
        assert BitPolicy.load(folder / "policy.json") == policies[h]
        # The files simulate to the totals the search reported.
        totals = hwsim.simulate(
            wl, BitPolicy.load(folder / "policy.json"), folder / "hardware.toml"
        )
        assert totals.totals["latency_s"] == pytest.approx(search.totals["latency_s"][h])
