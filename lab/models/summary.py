"""Parameter counts and output shapes, layer by layer, from one dry forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerSummary:
    name: str
    description: str
    output_shape: tuple[int, ...]  # without the batch axis
    n_params: int


@dataclass(frozen=True)
class ModelSummary:
    layers: tuple[LayerSummary, ...]
    input_shape: tuple[int, ...]

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    def table(self) -> str:
        rows = [f"{'layer':<8} {'what':<34} {'output':<14} {'params':>9}"]
        rows.append(f"{'input':<8} {'':<34} {str(self.input_shape):<14} {'':>9}")
        for layer in self.layers:
            rows.append(
                f"{layer.name:<8} {layer.description:<34} "
                f"{str(layer.output_shape):<14} {layer.n_params:>9,}"
            )
        rows.append(f"{'total':<8} {'':<34} {'':<14} {self.n_params:>9,}")
        return "\n".join(rows)


def _describe(module: nn.Module) -> str:
    from lab.models.layers import Block
    from lab.models.transformer import Embeddings, LMHead, TransformerBlock

    if isinstance(module, Embeddings):
        positions = (
            module.positions is not None
            and "learned"
            or (module.table is not None and "sinusoidal")
        )
        return "token embedding" + (f" + {positions} positions" if positions else "")
    if isinstance(module, TransformerBlock):
        attention, mlp = module.attn, module.mlp
        heads = f"{attention.heads} heads" + (
            f" ({attention.kv_heads} kv)" if attention.kv_heads != attention.heads else ""
        )
        ffn = "SwiGLU" if mlp.gated else type(mlp.act).__name__
        norm = type(module.norm1).__name__
        return f"{'pre' if module.pre_norm else 'post'}-{norm}, attention {heads}, {ffn} MLP"
    if isinstance(module, LMHead):
        return ("norm, " if not isinstance(module.norm, nn.Identity) else "") + (
            "tied head" if module.proj is None else "Linear head"
        )
    if not isinstance(module, Block):
        return type(module).__name__
    parts = [type(m).__name__ for m in module.branch if not isinstance(m, nn.Dropout)]
    if isinstance(module.drop, nn.Dropout):
        parts.append(f"Dropout({module.drop.p:g})")
    if isinstance(module.pool, nn.MaxPool2d):
        parts.append("MaxPool")
    text = "-".join(parts)
    return f"{text} +res" if module.residual else text


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Shapes come from a forward pass of two samples in eval mode (BatchNorm in
    train mode refuses a batch of one); the model's mode is restored."""
    named = model.named_layers()  # type: ignore[operator]
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(
                name, tuple(int(d) for d in out.shape[1:])
            )
        )
        for name, module in named
    ]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            dtype = getattr(model, "input_dtype", torch.float32)  # token ids for a Transformer
            model(torch.zeros((2, *input_shape), device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    layers = tuple(
        LayerSummary(
            name,
            _describe(module),
            shapes.get(name, ()),
            sum(p.numel() for p in module.parameters()),
        )
        for name, module in named
    )
    return ModelSummary(layers, tuple(input_shape))
