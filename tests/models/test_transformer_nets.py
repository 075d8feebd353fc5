"""The zoo's transformers against published parameter counts and MAC counts worked out from
their definitions (not from the code), and the LLM phases."""

from __future__ import annotations

import functools

import pytest
import torch

from hwsim import HwsimError
from models import build, example_input, extract_workload, llm_phase_costs, llm_workload

BIG = ("bert_base", "gpt2", "vit_b16", "llama3_1b")


@functools.cache
def workload(name: str):
    return extract_workload(build(name), example_input(name), name=name)


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("bert_base", 109_482_240),  # Hugging Face bert-base-uncased, BertModel with pooler
        ("gpt2", 124_439_808),  # Hugging Face gpt2 (LM head tied)
        ("vit_b16", 86_567_656),  # torchvision vit_b_16 model card
        ("llama3_1b", 1_235_814_400),  # meta-llama/Llama-3.2-1B safetensors (tied)
    ],
)
def test_parameter_counts_are_the_published_ones(name, published):
    model = build(name)
    assert next(model.parameters()).device.type == "meta"  # big: shapes only
    assert sum(p.numel() for p in model.parameters()) == published


def _layer_macs(t: int, d: int, ff: int, kv: int, gated: bool) -> int:
    """One transformer layer at ``t`` tokens: Q, O (d x d), K, V (d x kv), the score and value
    GEMMs (t x t x d each, summed over heads) and the MLP (two or three d x ff GEMMs)."""
    return t * d * (2 * d + 2 * kv) + 2 * t * t * d + (3 if gated else 2) * t * d * ff


def analytic_macs(name: str) -> int:
    if name == "bert_base":
        t = 128
        return 12 * _layer_macs(t, 768, 3072, 768, False) + 768 * 768  # + pooler on [CLS]
    if name == "gpt2":
        t = 256
        return 12 * _layer_macs(t, 768, 3072, 768, False) + t * 768 * 50257  # + LM head
    if name == "vit_b16":
        t = 14 * 14 + 1
        patch = 196 * 768 * 3 * 16 * 16
        return patch + 12 * _layer_macs(t, 768, 3072, 768, False) + 768 * 1000
    if name == "llama3_1b":
        t = 512
        return 16 * _layer_macs(t, 2048, 8192, 512, True) + t * 2048 * 128256
    if name == "vit_digits":
        t = 16 + 1
        return 16 * 32 * 1 * 2 * 2 + 2 * _layer_macs(t, 32, 64, 32, False) + 32 * 10
    raise KeyError(name)


@pytest.mark.parametrize("name", [*BIG, "vit_digits"])
def test_capture_matches_the_analytic_mac_count(name):
    # Target: within 0.5 %; every product is mapped, so the counts agree exactly.
    assert workload(name).total_macs == pytest.approx(analytic_macs(name), rel=0.005)
    assert workload(name).total_macs == analytic_macs(name)


def test_attention_rows_are_named_and_kinded():
    w = workload("bert_base")
    i = w.index("layers.3.attn#scores")
    assert w.kinds[i] == "act_matmul" and w.kinds[i + 1] == "act_matmul"
    assert w.layer_names[i + 1] == "layers.3.attn#values"
    assert (int(w.batch[i]), int(w.M[i]), int(w.K[i]), int(w.N[i])) == (12, 12 * 128, 64, 128)
    assert w.kinds.count("act_matmul") == 24


def test_grouped_query_attention_shares_kv_heads():
    w = workload("llama3_1b")
    i = w.index("layers.0.attn#scores")
    # 8 KV heads, each against the 4 query heads of its group stacked as rows
    assert (int(w.batch[i]), int(w.M[i]), int(w.K[i]), int(w.N[i])) == (8, 8 * 4 * 512, 64, 512)
    assert int(w.weight_elems[i]) == 8 * 512 * 64  # the keys, once


def test_vit_digits_is_real_and_trains():
    torch.manual_seed(0)
    from models.data import load_digits

    data = load_digits()
    model = build("vit_digits")
    assert next(model.parameters()).device.type == "cpu"
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        for idx in torch.randperm(len(data.y_train), generator=gen).split(64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert acc > 0.8


@pytest.mark.parametrize("seq_len", [1, 7, 64])
def test_prefill_is_dense_attention_and_last_logits(seq_len):
    w = llm_workload("gpt2", "prefill", seq_len=seq_len, batch=2)
    assert w.name == "gpt2/prefill"
    t, d = seq_len, 768
    per_layer = 2 * _layer_macs(t, d, 3072, d, False)  # batch 2
    assert w.total_macs == 12 * per_layer + 2 * d * 50257  # logits of the last position
    head = w.index("lm_head")
    assert int(w.M[head]) == 2


@pytest.mark.parametrize("seq_len", [1, 9, 300])
def test_decode_is_one_token_against_the_cache(seq_len):
    w = llm_workload("llama3_1b", "decode", seq_len=seq_len)
    d, kv = 2048, 512
    weights = 16 * (2 * d * d + 2 * d * kv + 3 * d * 8192) + d * 128256
    attention = 16 * 2 * 32 * 64 * seq_len  # one query row per head, seq_len keys
    assert w.total_macs == weights + attention
    act = [i for i, k in enumerate(w.kinds) if k == "act_matmul"]
    # Keys and values of every layer: the KV cache, seq_len positions, 8 heads of 64.
    assert int(w.weight_elems[act].sum()) == 16 * 2 * seq_len * 8 * 64


def test_phase_costs_report_each_phase():
    costs = llm_phase_costs("gpt2", "loom", (8, 8), seq_len=32)  # runs 8 bits as 8
    assert set(costs) == {"prefill", "decode"}
    for phase, c in costs.items():
        assert c["latency_s"] > 0 and c["energy_j"] > 0
        tokens = 32 if phase == "prefill" else 1
        assert c["tokens_per_s"] == pytest.approx(tokens / c["latency_s"])
        assert c["dram_bytes"] >= c["weight_bytes"] + c["kv_cache_bytes"] > 0
    # Weights read once at 8 bits: every linear weight (the tied embedding only as LM head).
    assert costs["decode"]["weight_bytes"] == 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 50257
    assert costs["decode"]["kv_cache_bytes"] == 12 * 2 * 32 * 768
    assert costs["prefill"]["kv_cache_bytes"] == 0


def test_kv_cache_is_counted_at_the_activation_width():
    """Stripes runs weights (and the second operand in their place) bit-parallel at 16 bits;
    the cache holds activations: counted at the run's 8-bit activations, the weights at 16."""
    costs = llm_phase_costs("gpt2", "stripes", (8, 8), seq_len=32)["decode"]
    assert costs["kv_cache_bytes"] == 12 * 2 * 32 * 768
    assert costs["weight_bytes"] == 2 * (12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 50257)
    assert costs["dram_bytes"] >= costs["weight_bytes"] + costs["kv_cache_bytes"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "resnet18"}, "model"),
        ({"name": "nope"}, "model"),
        ({"name": "gpt2", "phase": "train"}, "phase"),
        ({"name": "gpt2", "seq_len": 0}, "seq_len"),
        ({"name": "gpt2", "seq_len": 1025}, "seq_len"),
        ({"name": "gpt2", "batch": True}, "batch"),
    ],
)
def test_bad_llm_requests(kwargs, field):
    with pytest.raises(HwsimError) as err:
        llm_workload(**kwargs)
    assert err.value.field == field
