"""Transformers for the zoo, in plain torch: nothing downloaded, no new dependency.

- ``bert_base``: BERT-base encoder (Devlin et al. 2019): 12 layers, hidden 768, 12 heads, MLP
  3072, vocabulary 30522, post-norm, pooler on the first token.
- ``gpt2``: GPT-2 small (Radford et al. 2019): 12 layers, hidden 768, 12 heads, MLP 3072,
  vocabulary 50257, 1024 learned positions, pre-norm, causal, LM head tied to the embedding.
- ``vit_b16``: ViT-B/16 (Dosovitskiy et al. 2021) at 224x224: a 16x16 stride-16 patch conv,
  class token, 12 pre-norm layers of hidden 768 / 12 heads / MLP 3072, a 1000-class head.
- ``llama3_1b``: shaped like Llama-3.2-1B: hidden 2048, 16 layers, 32 heads of 64, 8 KV heads
  (grouped-query attention), SwiGLU MLP 8192, vocabulary 128256, RMSNorm, rotary positions,
  LM head tied to the embedding.
- ``vit_digits``: a small ViT on the 8x8 digits (2x2 patches, hidden 32, 2 layers, 2 heads)
  that trains in seconds.

The big four are built on the ``meta`` device by default (``build(name, device="cpu")`` for
real weights): their workloads need shapes, not arithmetic. Every layer of one family has the
same module names: ``layers.<i>.attn.{q,k,v,o}_proj``, ``layers.<i>.attn#scores`` /
``#values`` (``F.scaled_dot_product_attention``), ``layers.<i>.mlp.{fc1,fc2}`` or
``.{gate,up,down}_proj``.

Decoders take an optional KV cache as extra inputs (``model(ids, k_0, v_0, k_1, v_1, ...)``,
each ``[batch, kv_heads, cached, head_dim]``) and ``last_logits_only`` limits the LM head to the
last position: what :func:`models.llm_workload` runs for the prefill and decode phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.digits import DIGITS_SHAPE
from models.extract import op_role
from models.zoo import register

PRODUCTS: tuple[str, ...] = ("scores", "values")
"""The two activation x activation products of an attention: ``Q K^T`` and ``P V``."""


@dataclass(frozen=True)
class TransformerConfig:
    """The shape of one transformer. ``kv_heads < heads`` is grouped-query attention."""

    hidden: int
    layers: int
    heads: int
    mlp: int
    kv_heads: int = 0  # 0: as many as heads
    vocab: int = 0
    max_positions: int = 0  # learned positions; 0: rotary (Llama) or none
    norm: str = "layer"  # "layer" or "rms"
    gated_mlp: bool = False  # SwiGLU (gate, up, down) instead of GELU (fc1, fc2)
    pre_norm: bool = True
    causal: bool = False
    rope_theta: float = 500000.0
    bias: bool = True  # biases on the attention projections and the GELU MLP (not Llama)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads


BERT_BASE = TransformerConfig(
    hidden=768, layers=12, heads=12, mlp=3072, vocab=30522, max_positions=512, pre_norm=False
)
GPT2 = TransformerConfig(
    hidden=768, layers=12, heads=12, mlp=3072, vocab=50257, max_positions=1024, causal=True
)
VIT_B16 = TransformerConfig(hidden=768, layers=12, heads=12, mlp=3072)
LLAMA3_1B = TransformerConfig(
    hidden=2048,
    layers=16,
    heads=32,
    kv_heads=8,
    mlp=8192,
    vocab=128256,
    norm="rms",
    gated_mlp=True,
    causal=True,
    bias=False,
)
VIT_DIGITS = TransformerConfig(hidden=32, layers=2, heads=2, mlp=64)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _norm(cfg: TransformerConfig) -> nn.Module:
    return RMSNorm(cfg.hidden) if cfg.norm == "rms" else nn.LayerNorm(cfg.hidden)


def rotate(x: torch.Tensor, start: int, theta: float) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of ``x [b, h, t, d]`` at positions
    ``start..start+t-1``, half-split layout as in Llama."""
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    pos = torch.arange(start, start + x.shape[-2], device=x.device, dtype=torch.float32)
    angles = pos[:, None] * inv[None, :]  # elementwise outer product: no MACs
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


def product(role: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` named ``#<role>`` in the workload."""
    with op_role(role):
        return a @ b


class Attention(nn.Module):
    product_roles = PRODUCTS  # quant.products finds the product slots by this

    """Multi-head (or grouped-query) attention through ``F.scaled_dot_product_attention``.

    ``scores_product`` / ``values_product`` may hold a module called as ``module(a, b)``
    instead of ``a @ b`` (quant puts operand quantizers there); the attention is then written
    out op by op, with the same workload rows."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        kv = cfg.n_kv_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden, cfg.hidden, bias=cfg.bias)
        self.k_proj = nn.Linear(cfg.hidden, kv, bias=cfg.bias)
        self.v_proj = nn.Linear(cfg.hidden, kv, bias=cfg.bias)
        self.o_proj = nn.Linear(cfg.hidden, cfg.hidden, bias=cfg.bias)
        self.scores_product: nn.Module | None = None
        self.values_product: nn.Module | None = None

    def forward(
        self,
        x: torch.Tensor,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cfg = self.cfg
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, cfg.heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
        start = 0 if past_k is None else past_k.shape[-2]
        if cfg.max_positions == 0 and cfg.causal:  # rotary positions (Llama)
            q, k = rotate(q, start, cfg.rope_theta), rotate(k, start, cfg.rope_theta)
        if past_k is not None:
            k, v = torch.cat((past_k, k), dim=-2), torch.cat((past_v, v), dim=-2)
        if self.scores_product is not None or self.values_product is not None:
            y = self._written_out(q, k, v, cfg.causal and t > 1)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                is_causal=cfg.causal and t > 1,
                enable_gqa=cfg.n_kv_heads != cfg.heads,
            )
        return self.o_proj(y.transpose(1, 2).reshape(b, t, cfg.hidden))

    def _written_out(self, q, k, v, causal: bool) -> torch.Tensor:
        """What ``scaled_dot_product_attention`` computes, with the product modules in place."""
        group = self.cfg.heads // self.cfg.n_kv_heads
        if group > 1:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores, values = (
            getattr(self, f"{r}_product") or (lambda a, b, r=r: product(r, a, b)) for r in PRODUCTS
        )
        s = scores(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if causal:  # each query sees the keys up to its own position (the last ones)
            length, source = s.shape[-2:]
            keep = torch.ones(length, source, dtype=torch.bool, device=s.device).tril(
                source - length
            )
            s = s.masked_fill(~keep, float("-inf"))
        return values(torch.softmax(s, dim=-1), v)


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.gated = cfg.gated_mlp
        if self.gated:
            self.gate_proj = nn.Linear(cfg.hidden, cfg.mlp, bias=False)
            self.up_proj = nn.Linear(cfg.hidden, cfg.mlp, bias=False)
            self.down_proj = nn.Linear(cfg.mlp, cfg.hidden, bias=False)
        else:
            self.fc1 = nn.Linear(cfg.hidden, cfg.mlp)
            self.fc2 = nn.Linear(cfg.mlp, cfg.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.pre_norm = cfg.pre_norm
        self.norm1, self.norm2 = _norm(cfg), _norm(cfg)
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, past_k=None, past_v=None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), past_k, past_v)
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x, past_k, past_v))
        return self.norm2(x + self.mlp(x))


class Encoder(nn.Module):
    """BERT: token + position + segment embeddings, post-norm layers, tanh pooler on [CLS]."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        self.positions = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.segments = nn.Embedding(2, cfg.hidden)
        self.embed_norm = _norm(cfg)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.pooler = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        x = self.embed(input_ids) + self.positions(pos) + self.segments(torch.zeros_like(pos))
        x = self.embed_norm(x)
        for layer in self.layers:
            x = layer(x)
        return x, torch.tanh(self.pooler(x[:, 0]))


class Decoder(nn.Module):
    """A causal LM (GPT-2, Llama): embeddings, pre-norm layers, final norm, tied LM head.

    ``forward(ids, k_0, v_0, k_1, v_1, ...)``: an optional KV cache per layer; the new tokens
    attend to the cached positions and to themselves."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        if cfg.max_positions:
            self.positions = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = _norm(cfg)
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab, bias=False)
        self.lm_head.weight = self.embed.weight  # tied
        self.last_logits_only = False  # prefill: only the last position's logits are needed

    def forward(self, input_ids: torch.Tensor, *cache: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cache and len(cache) != 2 * cfg.layers:
            raise ValueError(f"a KV cache is {2 * cfg.layers} tensors (k, v per layer)")
        x = self.embed(input_ids)
        start = cache[0].shape[-2] if cache else 0
        if cfg.max_positions:
            pos = torch.arange(start, start + input_ids.shape[1], device=input_ids.device)
            x = x + self.positions(pos)
        for i, layer in enumerate(self.layers):
            past = (cache[2 * i], cache[2 * i + 1]) if cache else (None, None)
            x = layer(x, *past)
        x = self.norm(x)
        if self.last_logits_only:
            x = x[:, -1:]
        return self.lm_head(x)


class VisionTransformer(nn.Module):
    """ViT: patch conv, class token, learned positions, pre-norm layers, head on the class
    token."""

    def __init__(
        self,
        cfg: TransformerConfig,
        image: int,
        patch: int,
        channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(channels, cfg.hidden, patch, patch)
        tokens = (image // patch) ** 2 + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.positions = nn.Parameter(torch.randn(1, tokens, cfg.hidden) * 0.02)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = _norm(cfg)
        self.head = nn.Linear(cfg.hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.positions
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


def _init(model: nn.Module) -> nn.Module:
    """Small normal weights as in BERT / GPT-2 (std 0.02), zero biases; norms start at 1."""
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    return model


@register(
    "bert_base", (128,), "BERT-base encoder, 128 tokens", input_dtype=torch.long, device="meta"
)
def bert_base() -> Encoder:
    return _init(Encoder(BERT_BASE))


@register("gpt2", (256,), "GPT-2 small (124M), 256 tokens", input_dtype=torch.long, device="meta")
def gpt2() -> Decoder:
    return _init(Decoder(GPT2))


@register("vit_b16", (3, 224, 224), "ViT-B/16 at 224x224, 1000 classes", device="meta")
def vit_b16(num_classes: int = 1000) -> VisionTransformer:
    return _init(VisionTransformer(VIT_B16, 224, 16, 3, num_classes))


@register(
    "llama3_1b",
    (512,),
    "Llama-3.2-1B-shaped decoder (GQA 32/8 heads, SwiGLU 8192, vocab 128256), 512 tokens",
    input_dtype=torch.long,
    device="meta",
)
def llama3_1b() -> Decoder:
    return _init(Decoder(LLAMA3_1B))


@register("vit_digits", DIGITS_SHAPE, "ViT on 8x8 digits: 2x2 patches, hidden 32, 2 layers")
def vit_digits(num_classes: int = 10) -> VisionTransformer:
    return _init(VisionTransformer(VIT_DIGITS, 8, 2, 1, num_classes))
