"""Small configs that train in milliseconds."""

from lab.core.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    mlp_layers,
)


def tiny_config(**changes) -> ExperimentConfig:
    base = ExperimentConfig(
        model=ModelConfig(layers=mlp_layers(2, 16)),
        data=DataConfig(name="moons", n_samples=400, batch_size=32, noise=0.1),
        optim=OptimConfig(name="sgd", lr=0.1, momentum=0.0),
        train=TrainConfig(steps=100, eval_every=10),
    )
    return base.with_changes(changes) if changes else base
