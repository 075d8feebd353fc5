"""The event model: the skeleton's tiles as SimPy processes sharing one DRAM channel.

Each layer runs the schedule the analytic skeleton assumes (:mod:`hwsim.hardware.skeleton`):
load tile 0; then in lock step, while tile ``i`` computes, the DMA stores tile ``i-1`` and loads
tile ``i+1`` (double buffering); a barrier closes each period; finally tile ``T-1`` is stored
and the array drains (``fill_cycles``). Every transfer holds the DRAM channel, a
``simpy.Resource`` of capacity one, for its bytes over the bandwidth.

On one stream nothing contends, so the event model reproduces the analytic latency. With
several streams (accelerator instances sharing DRAM, each running its own workload) transfers
queue on the channel: a stream is never faster than its analytic latency, and the queueing
delay is reported per stream.

The periods between the first and the last are identical, so runs of them are merged into at
most ``max_tiles - 2`` coarse periods (``n`` periods of ``max(c, l+s)`` equal one period of
``max(n c, n l + n s)``), which keeps long layers cheap to simulate and changes nothing on a
single stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from hwsim.errors import HwsimError, check
from hwsim.policy import BitPolicy
from hwsim.workload import Workload


@dataclass(frozen=True)
class TileSchedule:
    """One layer's tiles on one config: ``tiles`` tiles, each loading, computing and storing
    for the given seconds (at full DRAM bandwidth), plus the array's fill/drain time."""

    name: str
    tiles: int
    compute_s: float
    load_s: float
    store_s: float
    fill_s: float = 0.0

    def __post_init__(self) -> None:
        check(
            isinstance(self.tiles, int) and self.tiles >= 1,
            "schedule.tiles",
            self.tiles,
            "must be an integer >= 1",
        )
        for key in ("compute_s", "load_s", "store_s", "fill_s"):
            v = getattr(self, key)
            check(np.isfinite(v) and v >= 0, f"schedule.{key}", v, "must be finite and >= 0")

    @property
    def analytic_s(self) -> float:
        """The closed form of the lock-step double-buffered pipeline."""
        c, ld, st, t = self.compute_s, self.load_s, self.store_s, self.tiles
        if t == 1:
            return ld + c + st + self.fill_s
        return ld + max(c, ld) + (t - 2) * max(c, ld + st) + max(c, st) + st + self.fill_s


@dataclass
class EventResult:
    """What a run of the event model produced.

    ``trace`` holds ``(time_s, stream, event)`` tuples in the order they happened; events are
    ``"<layer>:load <i> start|end"``, ``"compute"`` and ``"store"`` likewise (``i`` the tile, or
    the first tile of a merged run), ``"<layer>:done"``."""

    makespan_s: float
    finish_s: list[float]
    analytic_s: list[float]
    queue_delay_s: list[float]
    layer_finish_s: list[list[float]]
    trace: list[tuple[float, int, str]] = field(default_factory=list)

    @property
    def slowdown(self) -> list[float]:
        """Per stream: event-model time over the analytic (contention-free) time."""
        return [
            f / a if a > 0 else 1.0 for f, a in zip(self.finish_s, self.analytic_s, strict=True)
        ]


def schedules(workload: Workload, policy: BitPolicy, hardware) -> list[TileSchedule]:
    """The analytic skeleton's tile schedule of every layer (seconds)."""
    from hwsim.hardware import load_hardware
    from hwsim.hardware.encodings import policy_points, run_points
    from hwsim.hardware.skeleton import SkeletonConfig, run_kernel

    hw = load_hardware(hardware)
    if not isinstance(hw, SkeletonConfig):
        raise HwsimError(
            "hardware", hw.family, "the event model runs spatial-array (skeleton) families only"
        )
    # The widths the family runs for each operand's encoding, as simulate prices them.
    points = run_points(hw, policy_points(workload, policy))
    res = {k: v[0] for k, v in run_kernel([hw], points).items()}
    f = hw.frequency_hz
    return [
        TileSchedule(
            name,
            int(res["tiles"][i]),
            float(res["tile_compute_cycles"][i]) / f,
            float(res["tile_load_cycles"][i]) / f,
            float(res["tile_store_cycles"][i]) / f,
            float(res["fill_cycles"][i]) / f,
        )
        for i, name in enumerate(workload.layer_names)
    ]


def _periods(tiles: int, max_tiles: int) -> list[tuple[int, int, bool, bool]]:
    """``(first tile, tiles merged, stores a previous tile, loads a next tile)`` per period."""
    if tiles == 1:
        return [(0, 1, False, False)]
    out = [(0, 1, False, True)]
    middle = tiles - 2
    if middle:
        groups = min(middle, max(1, max_tiles - 2))
        base, extra = divmod(middle, groups)
        start = 1
        for g in range(groups):
            n = base + (1 if g < extra else 0)
            out.append((start, n, True, True))
            start += n
    out.append((tiles - 1, 1, True, False))
    return out


def run(
    streams: Sequence[Sequence[TileSchedule]], max_tiles: int = 64, keep_trace: bool = True
) -> EventResult:
    """Run every stream's layers back to back, all streams sharing one DRAM channel."""
    check(len(streams) >= 1, "streams", len(streams), "need at least one stream")
    check(
        isinstance(max_tiles, int) and max_tiles >= 3,
        "max_tiles",
        max_tiles,
        "must be an integer >= 3",
    )
    env = simpy.Environment()
    channel = simpy.Resource(env, capacity=1)
    n = len(streams)
    trace: list[tuple[float, int, str]] = []
    queue = [0.0] * n
    finish = [0.0] * n
    layer_finish: list[list[float]] = [[] for _ in range(n)]

    def log(sid: int, event: str) -> None:
        if keep_trace:
            trace.append((env.now, sid, event))

    def transfer(sid: int, label: str, seconds: float):
        with channel.request() as req:
            asked = env.now
            yield req
            queue[sid] += env.now - asked
            log(sid, f"{label} start")
            yield env.timeout(seconds)
            log(sid, f"{label} end")

    def compute(sid: int, label: str, seconds: float):
        log(sid, f"{label} start")
        yield env.timeout(seconds)
        log(sid, f"{label} end")

    def dma(sid: int, layer: TileSchedule, first: int, count: int, store: bool, load: bool):
        if store:
            yield from transfer(sid, f"{layer.name}:store {first - 1}", layer.store_s * count)
        if load:
            yield from transfer(sid, f"{layer.name}:load {first + 1}", layer.load_s * count)

    def stream(sid: int, layers: Sequence[TileSchedule]):
        for layer in layers:
            yield from transfer(sid, f"{layer.name}:load 0", layer.load_s)
            for first, count, store, load in _periods(layer.tiles, max_tiles):
                work = env.process(
                    compute(sid, f"{layer.name}:compute {first}", layer.compute_s * count)
                )
                move = env.process(dma(sid, layer, first, count, store, load))
                yield env.all_of([work, move])
            yield from transfer(sid, f"{layer.name}:store {layer.tiles - 1}", layer.store_s)
            if layer.fill_s > 0:
                yield env.timeout(layer.fill_s)
            log(sid, f"{layer.name}:done")
            layer_finish[sid].append(env.now)
        finish[sid] = env.now

    for sid, layers in enumerate(streams):
        check(len(layers) >= 1, f"streams[{sid}]", len(layers), "a stream needs a layer")
        env.process(stream(sid, layers))
    env.run()
    analytic = [float(sum(s.analytic_s for s in layers)) for layers in streams]
    return EventResult(max(finish), finish, analytic, queue, layer_finish, trace)


def simulate_events(
    workload: Workload,
    policy: BitPolicy,
    hardware,
    streams: int = 1,
    max_tiles: int = 64,
    keep_trace: bool = True,
) -> EventResult:
    """``streams`` copies of one (workload, policy, hardware) sharing the DRAM channel."""
    check(isinstance(streams, int) and streams >= 1, "streams", streams, "must be an integer >= 1")
    sched = schedules(workload, policy, hardware)
    return run([sched] * streams, max_tiles=max_tiles, keep_trace=keep_trace)
