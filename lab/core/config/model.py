"""The model's section: its family, hidden layers and residual wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.core.config.choices import (
    ACTIVATIONS,
    MAX_LAYERS,
    MODEL_KINDS,
    NORM_POSITIONS,
    NORMS,
    RESIDUAL_SCALES,
)
from lab.core.config.transformer import TransformerConfig
from lab.core.fields import ConfigError, knob, validate_section


@dataclass(frozen=True)
class LayerConfig:
    """One hidden layer: a Linear (MLP) or Conv2d (CNN) block.

    Validated by ``ModelConfig``, which knows the layer's index for messages.
    """

    width: int = knob(
        64, "width", "Units of the layer (channels for a CNN)", lo=1, hi=65536, rebuild=True
    )
    activation: str = knob(
        "relu", "activation", "The nonlinearity after the layer", choices=ACTIVATIONS, rebuild=True
    )
    norm: str = knob(
        "none",
        "norm",
        "Normalisation of the layer's output: BatchNorm (over the batch), LayerNorm or"
        " RMSNorm (over the units of one sample)",
        choices=NORMS,
        rebuild=True,
    )
    residual: bool = knob(
        False,
        "residual",
        "Add the block's input to its output (a skip connection); input and output widths"
        " must be equal",
        rebuild=True,
    )
    dropout: float = knob(
        0.0,
        "dropout",
        "Share of the layer's outputs zeroed at random while training (off in evaluation)",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.9),
        step=0.05,
        rebuild=True,
    )
    kernel: int = knob(
        3, "kernel", "Side of the convolution's square kernel (CNN only)", lo=1, hi=15,
        rebuild=True,
    )  # fmt: skip
    pool: bool = knob(
        False, "pool", "A 2x2 max-pool after the block halves the image (CNN only)", rebuild=True
    )


def mlp_layers(
    depth: int, width: int, activation: str = "relu", **kw: Any
) -> tuple[LayerConfig, ...]:
    """``depth`` identical hidden layers."""
    return tuple(LayerConfig(width=width, activation=activation, **kw) for _ in range(depth))


@dataclass(frozen=True)
class ModelConfig:
    kind: str = knob(
        "mlp",
        "model",
        "The network family: a multi-layer perceptron for points, a CNN for images, a"
        " decoder-only Transformer for token sequences, or your own (model.source)",
        choices=MODEL_KINDS,
        rebuild=True,
    )
    layers: tuple[LayerConfig, ...] = field(default_factory=lambda: mlp_layers(4, 64))
    residual_scale: str = knob(
        "none",
        "branch scale",
        "How residual branches are scaled: not at all, by 1/sqrt(2N) for N residual blocks,"
        " or by a learned scalar that starts at 0 (ReZero)",
        choices=RESIDUAL_SCALES,
        rebuild=True,
    )
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    source: str = knob(
        "", "model file", "Your own model (model.kind = \"custom\"): path/to/file.py:function,"
        " a function of (input_shape, n_outputs) that returns an nn.Module. Knoblab runs the"
        " file when it builds the experiment", rebuild=True,
    )  # fmt: skip
    norm_position: str = knob(
        "post",
        "norm position",
        "post: the norm after the weights (a Transformer's: after each residual add); pre:"
        " before them (a residual block's branch becomes norm, activation, weights; a"
        " Transformer's sub-layers read a normalised stream)",
        choices=NORM_POSITIONS,
        rebuild=True,
    )

    def activations(self) -> dict[str, str]:
        """The activation of each layer the activation probes watch, by the
        name they report it under: ``layer<i>`` of an MLP or CNN, ``block<i>``
        (its feed-forward activation; SwiGLU's is SiLU) of a Transformer."""
        if self.kind == "transformer":
            t = self.transformer
            act = "silu" if t.ffn == "swiglu" else t.ffn
            return {f"block{i + 1}": act for i in range(t.layers)}
        return {f"layer{i + 1}": layer.activation for i, layer in enumerate(self.layers)}

    def __post_init__(self) -> None:
        validate_section(self, "model")
        if self.kind == "custom":
            file, colon, function = self.source.strip().rpartition(":")
            if not colon or not file.endswith(".py") or not function.isidentifier():
                raise ConfigError(
                    "model.source",
                    f"{self.source!r} does not name a function in a Python file; write"
                    " path/to/file.py:make_model",
                )
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.layers) > MAX_LAYERS:
            raise ConfigError(
                "model.layers", f"{len(self.layers)} layers; allowed: at most {MAX_LAYERS}"
            )
        for i, layer in enumerate(self.layers):
            p = f"model.layers[{i}]"
            if not isinstance(layer, LayerConfig):
                raise ConfigError(p, f"{layer!r} is not a layer table")
            validate_section(layer, p)
            if self.kind == "cnn" and layer.kernel % 2 == 0:
                raise ConfigError(f"{p}.kernel", f"{layer.kernel} is even; allowed: odd sizes")
            if layer.pool and self.kind != "cnn":
                raise ConfigError(f"{p}.pool", "pooling is for CNN layers; the model is an MLP")
            if layer.residual and layer.pool:
                raise ConfigError(f"{p}.residual", "a residual block cannot pool; turn one off")
