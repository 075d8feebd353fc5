"""LLM inference phases as workloads, and what each costs on a hardware model.

- **prefill**: the prompt's ``seq_len`` tokens in one pass; attention as dense ``seq_len x
  seq_len`` score and value GEMMs per head (a causal mask skips no product in a dense kernel);
  logits for the last position only (the one that picks the next token).
- **decode**: one new token against a KV cache of ``seq_len`` positions (``seq_len - 1``
  cached plus its own): every weight is read for one token, and each layer's score and value
  GEMMs read the cache's keys and values from DRAM.

Both run the zoo decoder (``gpt2``, ``llama3_1b``) on the ``meta`` device through
:func:`models.extract_workload`, so the rows are what the forward pass executes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hwsim.errors import HwsimError, check
from hwsim.workload import Workload
from models.transformer_nets import Decoder
from models.zoo import build, entry, names

PHASES: tuple[str, ...] = ("prefill", "decode")


def llm_workload(name: str, phase: str = "prefill", seq_len: int = 512, batch: int = 1) -> Workload:
    """The workload of one ``phase`` of zoo decoder ``name`` at context ``seq_len``.

    Named ``"<name>/<phase>"``; layer names are the model's (``layers.3.attn#scores``...)."""
    if name not in names():
        entry(name)  # raises, listing the zoo
    check(phase in PHASES, "phase", phase, f"must be one of {PHASES}")
    for field, value in (("seq_len", seq_len), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HwsimError(field, value, "must be an integer >= 1")
    model = build(name, device="meta")
    if not isinstance(model, Decoder):
        raise HwsimError("model", name, "not a decoder LM; LLM phases need gpt2 or llama3_1b")
    cfg = model.cfg
    if cfg.max_positions and seq_len > cfg.max_positions:
        raise HwsimError("seq_len", seq_len, f"{name} has {cfg.max_positions} positions")
    if phase == "prefill":
        model.last_logits_only = True
        inputs: tuple[torch.Tensor, ...] = (
            torch.zeros(batch, seq_len, dtype=torch.long, device="meta"),
        )
    else:
        cached = (batch, cfg.n_kv_heads, seq_len - 1, cfg.head_dim)
        inputs = (
            torch.zeros(batch, 1, dtype=torch.long, device="meta"),
            *(torch.zeros(cached, device="meta") for _ in range(2 * cfg.layers)),
        )
    from models.extract import extract_workload

    return extract_workload(model, inputs, name=f"{name}/{phase}")


def llm_phase_costs(
    name: str,
    hardware: Any,
    bits: tuple[int, int] = (8, 8),
    seq_len: int = 512,
    batch: int = 1,
) -> dict[str, dict[str, float]]:
    """Per phase: latency (s), energy (J), total DRAM bytes, the weights' and the KV cache's
    share of them (each read once: the weights at the width the hardware runs them, the cache
    at the run's activation width; a floor, what the hardware adds on top is re-reads and
    wider operands), and tokens/s (prefill: ``batch * seq_len`` tokens;
    decode: ``batch`` tokens per step). ``bits`` = (w_bits, a_bits) for every layer; act x
    act rows run both operands at ``a_bits``."""
    from hwsim import BitPolicy, simulate

    w_bits, a_bits = bits
    out: dict[str, dict[str, float]] = {}
    for phase in PHASES:
        wl = llm_workload(name, phase, seq_len, batch)
        act = wl.is_act_matmul
        policy = BitPolicy.from_arrays(
            wl, np.where(act, a_bits, w_bits).tolist(), [a_bits] * len(wl)
        )
        report = simulate(wl, policy, hardware)
        # Weights at the width the hardware runs them (act x act rows store none); the KV
        # cache is activations: the keys and values the act x act rows read, at the run's
        # activation width (a family that runs the second operand wider, bit-parallel in the
        # weight's place, reads more than this from DRAM: the total says so).
        weights = report.layers["weight_bits"].to_numpy()[~act].sum() / 8
        kv = (wl.weight_elems[act] * report.layers["a_bits_run"].to_numpy()[act]).sum() / 8
        latency = float(report.totals["latency_s"])
        tokens = batch * (seq_len if phase == "prefill" else 1)
        out[phase] = {
            "latency_s": latency,
            "energy_j": float(report.totals["energy_j"]),
            "dram_bytes": float(report.totals["dram_bytes"]),
            "weight_bytes": float(weights),
            "kv_cache_bytes": float(kv) if phase == "decode" else 0.0,
            "tokens_per_s": tokens / latency,
            "macs": float(wl.total_macs),
        }
    return out
