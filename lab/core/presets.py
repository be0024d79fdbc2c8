"""Named experiments to start from (no torch: the GUI lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    InitConfig,
    LayerConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    mlp_layers,
)


def _mlp(name: str, data: DataConfig, **sections: object) -> ExperimentConfig:
    return ExperimentConfig(name=name, data=data, **sections)  # type: ignore[arg-type]


PRESETS: dict[str, ExperimentConfig] = {
    "spirals-mlp": _mlp("spirals-mlp", DataConfig(name="spirals", noise=0.1)),
    "moons-mlp": _mlp("moons-mlp", DataConfig(name="moons", noise=0.2)),
    "circles-mlp": _mlp("circles-mlp", DataConfig(name="circles", noise=0.2, n_classes=3)),
    "xor-mlp": _mlp("xor-mlp", DataConfig(name="xor", noise=0.1)),
    "gaussians-mlp": _mlp("gaussians-mlp", DataConfig(name="gaussians", noise=0.2, n_classes=5)),
    "regression-mlp": _mlp(
        "regression-mlp",
        DataConfig(name="regression1d", noise=0.1, n_samples=1000),
        model=ModelConfig(layers=mlp_layers(3, 64, "tanh")),
        init=InitConfig(scheme="xavier_normal"),
        optim=OptimConfig(lr=0.003),
    ),
    "shapes-cnn": ExperimentConfig(
        name="shapes-cnn",
        model=ModelConfig(
            kind="cnn",
            layers=(
                LayerConfig(width=16, norm="batch", pool=True),
                LayerConfig(width=32, norm="batch", pool=True),
                LayerConfig(width=32, norm="batch", residual=True),
            ),
        ),
        data=DataConfig(name="shapes", n_classes=4, n_samples=2000, noise=0.2, batch_size=64),
        optim=OptimConfig(lr=0.003),
        train=TrainConfig(steps=600, eval_every=50),
    ),
    # Textbook failures, for the probes to show.
    "deep-sigmoid": _mlp(
        "deep-sigmoid",
        DataConfig(name="spirals", noise=0.1),
        model=ModelConfig(layers=mlp_layers(20, 64, "sigmoid")),
        init=InitConfig(scheme="xavier_normal"),
        optim=OptimConfig(name="sgd", lr=0.1),
    ),
    "deep-relu-he": _mlp(
        "deep-relu-he",
        DataConfig(name="spirals", noise=0.1),
        model=ModelConfig(layers=mlp_layers(20, 64, "relu")),
        optim=OptimConfig(name="sgd", lr=0.01),
    ),
}


DEFAULT_PRESET = "spirals-mlp"  # what the window and ``knoblab run`` start from


@dataclass(frozen=True)
class PresetNote:
    description: str  # one line: what the experiment is
    look_for: str  # what it shows, and where


PRESET_NOTES: dict[str, PresetNote] = {
    "spirals-mlp": PresetNote(
        "A 4x64 ReLU MLP with Adam learns two interleaved spirals.",
        "The boundary curls into spirals on the Boundary tab; loss falls in steps as each"
        " turn is learnt.",
    ),
    "moons-mlp": PresetNote(
        "Two half-moons, the classic easy nonlinear problem.",
        "Test accuracy near 100% within a few hundred steps; a smooth boundary.",
    ),
    "circles-mlp": PresetNote(
        "Three concentric rings: classes the model must separate by radius.",
        "The boundary becomes rings; some units die (Activations tab) and the rest do the work.",
    ),
    "xor-mlp": PresetNote(
        "XOR: the quadrants no linear model can separate.",
        "A plateau, then a sudden drop in loss as the hidden units find the quadrants.",
    ),
    "gaussians-mlp": PresetNote(
        "Five overlapping Gaussian blobs.",
        "Accuracy stops below 100% where the blobs overlap: the noise floor, not underfitting.",
    ),
    "regression-mlp": PresetNote(
        "A tanh MLP fits sin(3x) + 0.3x² from noisy samples.",
        "The fitted curve on the Boundary tab; test loss levels off at the noise variance.",
    ),
    "shapes-cnn": PresetNote(
        "A small CNN with BatchNorm tells circles, squares, triangles and crosses apart.",
        "The confusion matrix on the Boundary tab; which shapes it confuses first.",
    ),
    "deep-sigmoid": PresetNote(
        "20 sigmoid layers with Xavier init and plain SGD: the textbook vanishing gradient.",
        "The Signal tab: ||dL/dh|| falls by many orders of magnitude towards the input; the"
        " first layers never learn.",
    ),
    "deep-relu-he": PresetNote(
        "20 ReLU layers with He init: deep, yet the signal survives.",
        "The Signal tab stays near flat; the Gradients tab's update/weight ratios near 1e-3.",
    ),
}


def preset(name: str) -> ExperimentConfig:
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    return PRESETS[name]
