"""Named experiments to start from (no torch: the GUI lists them)."""

from __future__ import annotations

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


def preset(name: str) -> ExperimentConfig:
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    return PRESETS[name]
