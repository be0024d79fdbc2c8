"""The models a Knoblab experiment builds: an MLP and a small CNN (``net``),
a decoder-only Transformer (``transformer``), and a model of the person's
own wrapped for the probes (``custom``). Each reports its layers by
name (``named_layers``) and gives every activation a module of its own, so
the probes can measure each one."""

from __future__ import annotations

from torch import nn

from lab.core.config import ModelConfig
from lab.models.net import Net, build_net
from lab.models.summary import LayerSummary, ModelSummary, summarize
from lab.models.transformer import TransformerLM

__all__ = [
    "LayerSummary",
    "ModelSummary",
    "Net",
    "TransformerLM",
    "build_model",
    "summarize",
]


def build_model(config: ModelConfig, input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    """The network for inputs of ``input_shape`` (without the batch axis) and
    ``n_outputs`` outputs (classes, 1 for regression, the vocabulary for tokens)."""
    if config.kind == "transformer":
        return TransformerLM(config.transformer, n_outputs, pre_norm=config.norm_position == "pre")
    if config.kind == "custom":
        from lab.models.custom import build_custom  # runs the person's file

        return build_custom(config.source, input_shape, n_outputs)
    return build_net(config, input_shape, n_outputs)
