"""Capture of Hugging Face ``transformers`` models (BERT, GPT-2, ViT, Llama) built from small
configs with random weights, against MAC counts worked out from their configs. Needs the
optional ``transformers`` extra; nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

from models import extract_workload

tf = pytest.importorskip("transformers", reason="the optional 'transformers' extra is absent")

D, LAYERS, HEADS, FF, VOCAB, T = 32, 2, 4, 64, 100, 12


def _layer(t: int, d: int, kv: int, ff: int, gated: bool) -> int:
    """Q and O (d x d), K and V (d x kv), scores and values (t x t x d), the MLP."""
    return t * d * (2 * d + 2 * kv) + 2 * t * t * d + (3 if gated else 2) * t * d * ff


def _models():
    bert = tf.BertConfig(
        vocab_size=VOCAB,
        hidden_size=D,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FF,
        max_position_embeddings=64,
    )
    gpt2 = tf.GPT2Config(
        vocab_size=VOCAB, n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=64, n_inner=FF
    )
    llama = tf.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=D,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        intermediate_size=FF,
        max_position_embeddings=64,
        tie_word_embeddings=True,
    )
    vit = tf.ViTConfig(
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_size=D,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FF,
    )
    tokens = (T,)
    kv = D // HEADS * 2  # two KV heads
    vit_t = (16 // 4) ** 2 + 1
    return {
        # BertModel: layers + pooler on [CLS]
        "bert": (tf.BertModel, bert, tokens, LAYERS * _layer(T, D, D, FF, False) + D * D),
        # GPT-2 LM head over every position (HF computes all logits)
        "gpt2": (
            tf.GPT2LMHeadModel,
            gpt2,
            tokens,
            LAYERS * _layer(T, D, D, FF, False) + T * D * VOCAB,
        ),
        "llama": (
            tf.LlamaForCausalLM,
            llama,
            tokens,
            LAYERS * _layer(T, D, kv, FF, True) + T * D * VOCAB,
        ),
        # ViTModel: patch conv, layers, pooler on [CLS]
        "vit": (
            tf.ViTModel,
            vit,
            (3, 16, 16),
            16 * D * 3 * 4 * 4 + LAYERS * _layer(vit_t, D, D, FF, False) + D * D,
        ),
    }


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("which", ["bert", "gpt2", "llama", "vit"])
def test_hugging_face_models_are_captured_whole(which, device):
    cls, config, shape, analytic = _models()[which]
    torch.manual_seed(0)
    with torch.device(device):
        model = cls(config)
        if which == "vit":
            x = torch.randn(1, *shape)
        else:
            x = torch.randint(0, VOCAB, (1, *shape))
    w = extract_workload(model, x)
    assert w.total_macs == pytest.approx(analytic, rel=0.005)  # the target
    assert w.total_macs == analytic  # and in fact every product is found
    assert w.kinds.count("act_matmul") == 2 * LAYERS


def test_gpt2_conv1d_layers_are_all_seen():
    """GPT-2's ``Conv1D`` layers call ``addmm``: every one of them is a row."""
    _, config, _, _ = _models()["gpt2"]
    w = extract_workload(tf.GPT2LMHeadModel(config), torch.zeros(1, T, dtype=torch.long))
    names = set(w.layer_names)
    for i in range(LAYERS):
        for layer in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            assert f"transformer.h.{i}.{layer}" in names
    assert "lm_head" in names


def test_bert_attention_rows_are_named_after_the_self_attention_module():
    _, config, _, _ = _models()["bert"]
    w = extract_workload(tf.BertModel(config), torch.zeros(1, T, dtype=torch.long))
    i = w.index("encoder.layer.1.attention.self#scores")
    assert w.layer_names[i + 1] == "encoder.layer.1.attention.self#values"
    assert int(w.batch[i]) == HEADS
