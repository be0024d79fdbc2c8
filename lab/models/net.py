"""The MLP and the small CNN (``Net``), built from ``ModelConfig``.

Hidden blocks are ``blocks[i]`` and are reported as ``layer{i+1}``; the output
layer is ``head``. Every block owns its activation module, so per-layer probes
can hook each one.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.core.config import ModelConfig
from lab.models.layers import Block, branch_scale, make_activation, make_norm


class Net(nn.Module):
    def __init__(self, blocks: list[Block], head: nn.Module, *, spatial: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.spatial = spatial
        self.gap = nn.AdaptiveAvgPool2d(1) if spatial else nn.Identity()
        self.head = head

    @property
    def layer_names(self) -> list[str]:
        """Report names, input to output: layer1..layerN, head."""
        return [f"layer{i + 1}" for i in range(len(self.blocks))] + ["head"]

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        return list(zip(self.layer_names, [*self.blocks, self.head], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        if self.spatial:
            x = self.gap(x).flatten(1)
        return self.head(x)


def build_net(config: ModelConfig, input_shape: tuple[int, ...], n_outputs: int) -> Net:
    """Build the network for inputs of ``input_shape`` (without the batch axis)."""
    spatial = config.kind == "cnn"
    width = input_shape[0]  # features (MLP) or channels (CNN)
    n_residual = sum(layer.residual for layer in config.layers)
    pre_norm = config.norm_position == "pre"
    blocks = []
    for layer in config.layers:
        if spatial:
            transform: nn.Module = nn.Conv2d(
                width, layer.width, layer.kernel, padding=layer.kernel // 2
            )
        else:
            transform = nn.Linear(width, layer.width)
        norm = make_norm(layer.norm, width if pre_norm else layer.width, spatial=spatial)
        blocks.append(
            Block(
                transform,
                norm,
                make_activation(layer.activation),
                dropout=layer.dropout,
                spatial=spatial,
                pre_norm=pre_norm,
                residual=layer.residual,
                scale=branch_scale(config.residual_scale, n_residual) if layer.residual else 1.0,
                pool=layer.pool,
            )
        )
        width = layer.width
    return Net(blocks, nn.Linear(width, n_outputs), spatial=spatial)
