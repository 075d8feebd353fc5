import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError
from sweeps.pareto import hypervolume, pareto, pareto_mask

# Small integer grids make ties and duplicates common, where front code usually breaks.
values = st.integers(2, 4).flatmap(
    lambda d: hnp.arrays(
        np.float64, st.tuples(st.integers(1, 40), st.just(d)), elements=st.integers(0, 6)
    )
)


def brute_mask(v: np.ndarray) -> np.ndarray:
    le = np.all(v[:, None, :] <= v[None, :, :], axis=2)  # le[j, i]: j <= i everywhere
    lt = np.any(v[:, None, :] < v[None, :, :], axis=2)
    return ~np.any(le & lt, axis=0)


def brute_hv(p: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over subsets of the points below the reference."""
    p = p[np.all(p < ref, axis=1)]
    total = 0.0
    for r in range(1, len(p) + 1):
        for sub in itertools.combinations(range(len(p)), r):
            corner = p[list(sub)].max(axis=0)
            total += (-1) ** (r + 1) * float(np.prod(ref - corner))
    return total


@given(values)
def test_mask_matches_brute_force(v):
    np.testing.assert_array_equal(pareto_mask(v), brute_mask(v))


@given(
    hnp.arrays(
        np.float64, st.tuples(st.integers(1, 300), st.just(2)), elements=st.floats(-1e6, 1e6)
    )
)
def test_mask_2d_continuous(v):
    np.testing.assert_array_equal(pareto_mask(v), brute_mask(v))


def test_senses_and_missing_values():
    df = pd.DataFrame({"lat": [1.0, 2.0, 3.0, np.nan], "acc": [0.5, 0.9, 0.8, 1.0]})
    front = pareto(df, {"lat": "min", "acc": "max"})
    assert front.index.tolist() == [0, 1]
    with pytest.raises(HwsimError, match=r"objectives\.speed"):
        pareto(df, ["speed"])
    with pytest.raises(HwsimError, match="sense"):
        pareto(df, {"lat": "least"})


@settings(max_examples=30)
@given(
    st.integers(2, 3).flatmap(
        lambda d: hnp.arrays(
            np.float64, st.tuples(st.integers(1, 7), st.just(d)), elements=st.integers(0, 9)
        )
    )
)
def test_hypervolume_exact_matches_inclusion_exclusion(v):
    ref = np.full(v.shape[1], 10.0)
    cols = [f"o{i}" for i in range(v.shape[1])]
    df = pd.DataFrame(v, columns=cols)
    assert hypervolume(df, cols, ref) == pytest.approx(brute_hv(v, ref), abs=1e-9)


def test_hypervolume_max_sense_and_monte_carlo():
    rng = np.random.default_rng(0)
    v = rng.random((6, 4))
    ref = np.full(4, 1.2)
    df = pd.DataFrame(v, columns=list("abcd"))
    exact = brute_hv(v, ref)
    est = hypervolume(df, list("abcd"), ref, samples=200_000, seed=1)
    assert est == pytest.approx(exact, rel=0.03)
    assert est == hypervolume(df, list("abcd"), ref, samples=200_000, seed=1)
    # Maximizing a column is minimizing its negation, reference included.
    df2 = df.assign(b=-df["b"])
    objs = {"a": "min", "b": "max", "c": "min"}
    assert hypervolume(df2, objs, {"a": 1.2, "b": -1.2, "c": 1.2}) == pytest.approx(
        brute_hv(v[:, :3], ref[:3])
    )


def test_sweep_plot_has_human_axes_and_colours_by_preset():
    import matplotlib.pyplot as plt

    from sweeps.plots import front_figure

    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame(
        {
            # Two presets of one family: colouring by family would merge them.
            "hw_name": ["cpu-bitserial", "cpu-int8"] * (n // 2),
            "hw_family": ["cpu"] * n,
            "policy": ["w2a2"] * n,
            "latency_s": rng.uniform(2e-6, 9e-6, n),
            "weight_bits": rng.uniform(8 * 2**20, 8 * 5 * 2**20, n),
        }
    )
    fig = front_figure(df, "latency_s", "weight_bits")
    try:
        ax = fig.axes[0]
        assert ax.get_xlabel() == "latency [µs]"
        assert ax.get_ylabel() == "weight memory at the run bits [MiB]"
        legend = ax.get_legend()
        assert legend.get_title().get_text() == "preset"
        assert {t.get_text() for t in legend.get_texts()} >= {"cpu-bitserial", "cpu-int8"}
        # The points are drawn in the axis unit: µs and MiB.
        xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections[:2]])
        assert 2 <= xs.min() and xs.max() <= 9
    finally:
        plt.close(fig)


@settings(max_examples=60)
@given(
    st.integers(2, 3).flatmap(
        lambda d: st.tuples(
            hnp.arrays(
                np.float64, st.tuples(st.integers(1, 40), st.just(d)), elements=st.integers(0, 5)
            ),
            st.lists(st.booleans(), min_size=d, max_size=d),
            st.data(),
        )
    )
)
def test_fronts_per_workload_collapse_ties_like_brute_force(args):
    """One front per workload, equal objective vectors reported once with their count:
    against a brute-force dominance check and a plain dictionary of ties, group by group."""
    from sweeps.pareto import pareto_fronts

    v, maximize, data = args
    n, d = v.shape
    groups = data.draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
    cols = [f"o{i}" for i in range(d)]
    df = pd.DataFrame(v, columns=cols).assign(workload=groups)
    senses = {c: "max" if m else "min" for c, m in zip(cols, maximize, strict=True)}
    got = pareto_fronts(df, senses)
    want = {}
    signs = np.where(maximize, -1.0, 1.0)
    for g in sorted(set(groups)):
        idx = np.flatnonzero(np.array(groups) == g)
        on = idx[brute_mask(v[idx] * signs)]
        for i in on:  # in row order: the first of equal points represents them
            key = (g, *v[i])
            first, count = want.get(key, (i, 0))
            want[key] = (first, count + 1)
    assert len(got) == len(want)
    for i, row in got.iterrows():
        first, count = want[(row["workload"], *row[cols])]
        assert (i, row["ties"]) == (first, count)
    # One merged front is the brute-force front of every row, ties collapsed the same way.
    merged = pareto_fronts(df, senses, by=None)
    on = brute_mask(v * signs)
    assert len(merged) == len({tuple(r) for r in v[on]})
    assert merged["ties"].sum() == on.sum()
