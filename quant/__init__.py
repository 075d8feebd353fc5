"""Quantization front end: quantizers, quantized layers, the four methods, search, export."""
