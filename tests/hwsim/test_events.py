"""The SimPy event model against the analytic skeleton, and its trace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError
from hwsim.events import TileSchedule, run, schedules, simulate_events
from hwsim.hardware import simulate
from tests.strategies import skeleton_configs, small_bits, workloads

# Small buffers and modest bandwidth so layers have many tiles and real memory time.
tight = skeleton_configs().map(
    lambda c: c.replace(
        weight_buffer_bytes=min(c.weight_buffer_bytes, 2.0**14),
        act_buffer_bytes=min(c.act_buffer_bytes, 2.0**14),
    )
)


@given(workloads(max_layers=3), tight, small_bits, small_bits, st.integers(3, 12))
@settings(max_examples=30)
def test_single_stream_agrees_with_analytic_latency(workload, cfg, w, a, max_tiles):
    policy = BitPolicy.uniform(workload, w, a)
    analytic = simulate(workload, policy, cfg).totals["latency_s"]
    res = simulate_events(workload, policy, cfg, max_tiles=max_tiles, keep_trace=False)
    assert res.finish_s[0] == pytest.approx(analytic, rel=0.01)
    assert res.queue_delay_s == [0.0]


@given(workloads(max_layers=3), tight, st.integers(3, 12))
@settings(max_examples=15)
def test_single_stream_agrees_with_analytic_latency_on_bipolar_operands(workload, cfg, max_tiles):
    """+-1 weights and activations: the event model runs the widths the family runs them at
    (2-bit weights on Loom and BISMO), as the analytic model prices them."""
    policy = BitPolicy.uniform(workload, 1, 1, "bipolar", "bipolar")
    analytic = simulate(workload, policy, cfg).totals["latency_s"]
    res = simulate_events(workload, policy, cfg, max_tiles=max_tiles, keep_trace=False)
    assert res.finish_s[0] == pytest.approx(analytic, rel=0.01)


@given(workloads(max_layers=2), tight, small_bits, small_bits, st.integers(2, 4))
@settings(max_examples=20)
def test_concurrent_streams_are_never_faster_and_report_contention(workload, cfg, w, a, n):
    policy = BitPolicy.uniform(workload, w, a)
    res = simulate_events(workload, policy, cfg, streams=n, max_tiles=8)
    for finish, analytic in zip(res.finish_s, res.analytic_s, strict=True):
        assert finish >= analytic * (1 - 1e-9)
    sched = schedules(workload, policy, cfg)
    dram_busy = sum(s.load_s * s.tiles + s.store_s * s.tiles for s in sched)
    if dram_busy > 0:
        # Someone waited: total queueing is positive when streams share transfers.
        assert sum(res.queue_delay_s) > 0
    # Finishing late is explained by waiting: slowdown never exceeds the queueing delay.
    for finish, analytic, q in zip(res.finish_s, res.analytic_s, res.queue_delay_s, strict=True):
        assert finish - analytic <= q + 1e-12 * max(1.0, analytic)


def _intervals(trace, kind):
    """``{(stream, label): (start, end)}`` of every ``kind`` (load/store/compute) event."""
    starts, out = {}, {}
    for t, sid, event in trace:
        if f":{kind} " not in event:
            continue
        label, edge = event.rsplit(" ", 1)
        if edge == "start":
            starts[(sid, label)] = t
        else:
            out[(sid, label)] = (starts.pop((sid, label)), t)
    assert not starts, "every start has an end"
    return out


@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.floats(0, 5), st.floats(0, 5), st.floats(0, 5)),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 3),
)
@settings(max_examples=40)
def test_trace_obeys_the_pipeline_rules(layers, n_streams):
    streams = [
        [TileSchedule(f"L{i}", t, c, ld, s) for i, (t, c, ld, s) in enumerate(layers)]
        for _ in range(n_streams)
    ]
    res = run(streams, max_tiles=1000)
    times = [t for t, _, _ in res.trace]
    assert times == sorted(times)
    transfers = sorted(
        list(_intervals(res.trace, "load").values()) + list(_intervals(res.trace, "store").values())
    )
    # One DRAM channel: transfers never overlap.
    for (_, end), (start, _) in itertools.pairwise(transfers):
        assert start >= end - 1e-9
    loads = _intervals(res.trace, "load")
    computes = _intervals(res.trace, "compute")
    stores = _intervals(res.trace, "store")
    for (sid, label), (c_start, c_end) in computes.items():
        name, tile = label.split(":compute ")
        # A tile computes only once it is loaded, and is stored only after it computed.
        assert loads[(sid, f"{name}:load {tile}")][1] <= c_start + 1e-9
        assert stores[(sid, f"{name}:store {tile}")][0] >= c_end - 1e-9
    for sid in range(n_streams):
        done = [t for t, s, e in res.trace if s == sid and e.endswith(":done")]
        assert len(done) == len(layers) and done[-1] == pytest.approx(res.finish_s[sid])


@given(st.integers(1, 200), st.floats(0, 3), st.floats(0, 3), st.floats(0, 3), st.integers(3, 10))
def test_merging_periods_is_exact_on_one_stream(tiles, c, ld, s, max_tiles):
    sched = TileSchedule("x", tiles, c, ld, s, fill_s=0.5)
    fine = run([[sched]], max_tiles=tiles + 2, keep_trace=False).finish_s[0]
    coarse = run([[sched]], max_tiles=max_tiles, keep_trace=False).finish_s[0]
    assert coarse == pytest.approx(fine, rel=1e-12, abs=1e-12)
    assert fine == pytest.approx(sched.analytic_s, rel=1e-12, abs=1e-12)


def test_compute_bound_pipeline_hides_memory():
    sched = TileSchedule("x", 10, compute_s=2.0, load_s=0.5, store_s=0.5)
    res = run([[sched]])
    # Only the first load and the last store are exposed.
    assert res.finish_s[0] == pytest.approx(0.5 + 10 * 2.0 + 0.5)
    two = run([[sched], [sched]])
    assert max(two.finish_s) >= res.finish_s[0]


def test_event_model_refuses_non_skeleton_hardware():
    from hwsim import Workload

    wl = Workload.from_layers(
        "w", [{"name": "fc", "kind": "linear", "batch": 1, "in_channels": 8, "out_channels": 8}]
    )
    with pytest.raises(HwsimError) as err:
        simulate_events(wl, BitPolicy.uniform(wl, 8, 8), "cpu-int8")
    assert err.value.field == "hardware"
    with pytest.raises(HwsimError):
        TileSchedule("bad", 0, 1.0, 1.0, 1.0)
    with pytest.raises(HwsimError):
        TileSchedule("bad", 1, float("nan"), 1.0, 1.0)
    assert np.isfinite(TileSchedule("ok", 3, 1.0, 2.0, 0.0).analytic_s)
