"""Quantization front end: quantizers, quantized layers, the four methods, search, export."""

from quant.baseline import pretrained
from quant.direct import DirectConfig, DirectOptimizer, train_direct
from quant.export import Exported, IntegerModel, export, integer_model
from quant.layers import QConv2d, QLinear, QuantState, quantize_layer
from quant.methods import (
    SearchMethod,
    SearchProblem,
    SearchResult,
    methods,
    register_method,
    search_method,
)
from quant.model import (
    calibrate,
    current_policy,
    quantize_layers,
    quantize_model,
    quantized_layers,
)
from quant.quantizers import (
    LSQQuantizer,
    UniformQuantizer,
    binarize,
    fake_quantize,
    quantizer_range,
    round_ste,
    sign_ste,
)
from quant.train import evaluate, predict_logits, set_seed, train

__all__ = [
    "DirectConfig",
    "DirectOptimizer",
    "Exported",
    "IntegerModel",
    "LSQQuantizer",
    "QConv2d",
    "QLinear",
    "QuantState",
    "SearchMethod",
    "SearchProblem",
    "SearchResult",
    "UniformQuantizer",
    "binarize",
    "calibrate",
    "current_policy",
    "evaluate",
    "export",
    "fake_quantize",
    "integer_model",
    "methods",
    "predict_logits",
    "pretrained",
    "quantize_layer",
    "quantize_layers",
    "quantize_model",
    "quantized_layers",
    "quantizer_range",
    "register_method",
    "round_ste",
    "search_method",
    "set_seed",
    "sign_ste",
    "train",
    "train_direct",
]
