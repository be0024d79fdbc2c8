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
    TransformerConfig,
    mlp_layers,
)


def _mlp(name: str, data: DataConfig, **sections: object) -> ExperimentConfig:
    return ExperimentConfig(name=name, data=data, **sections)  # type: ignore[arg-type]


def _transformer(
    name: str,
    data: DataConfig,
    transformer: TransformerConfig,
    *,
    norm_position: str = "pre",
    optim: OptimConfig | None = None,
    steps: int = 600,
) -> ExperimentConfig:
    """A decoder-only Transformer with GPT-2's init (normal, std 0.02) and
    Adam with a short warm-up, unless told otherwise."""
    return ExperimentConfig(
        name=name,
        model=ModelConfig(kind="transformer", norm_position=norm_position, transformer=transformer),
        init=InitConfig(scheme="normal", std=0.02),
        data=data,
        optim=optim or OptimConfig(lr=3e-3, schedule="warmup_cosine", warmup_steps=50),
        train=TrainConfig(steps=steps, eval_every=50),
    )


# A post-norm stack at a learning rate that pre-norm takes in its stride:
# without warm-up its early updates wreck it (it stalls at chance), with one
# it trains.
POST_NORM = TransformerConfig(layers=6, context=32, scale_residual_init=False)
SORTING = DataConfig(name="sort", n_samples=4000, batch_size=64, seq_len=8, vocab=10)


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
    # Transformers: token tasks that train on a CPU in seconds to a minute.
    "copy-transformer": _transformer(
        "copy-transformer",
        DataConfig(name="copy", n_samples=4000, batch_size=64, seq_len=8, vocab=10),
        TransformerConfig(layers=2, d_model=64, heads=4, kv_heads=4, context=16),
    ),
    "induction-transformer": _transformer(
        "induction-transformer",
        DataConfig(name="induction", n_samples=4000, batch_size=64, seq_len=16, vocab=16),
        TransformerConfig(layers=2, d_model=64, heads=4, kv_heads=4, context=32),
    ),
    "chars-transformer": _transformer(
        "chars-transformer",
        DataConfig(name="chars", n_samples=8000, batch_size=32, seq_len=48),
        TransformerConfig(
            layers=2,
            d_model=64,
            heads=4,
            kv_heads=2,
            positional="rope",
            norm="rms",
            ffn="swiglu",
            context=48,
        ),
        optim=OptimConfig(lr=3e-3, schedule="warmup_cosine", warmup_steps=100),
        steps=1000,
    ),
    "post-norm-no-warmup": _transformer(
        "post-norm-no-warmup",
        SORTING,
        POST_NORM,
        norm_position="post",
        optim=OptimConfig(lr=1e-2),
    ),
    "post-norm-warmup": _transformer(
        "post-norm-warmup",
        SORTING,
        POST_NORM,
        norm_position="post",
        optim=OptimConfig(lr=1e-2, schedule="warmup_cosine", warmup_steps=200),
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
    "copy-transformer": PresetNote(
        "A 2-block Transformer learns to copy 8 symbols after a separator.",
        "The Attention tab: heads of the answer look 9 tokens back, a clean diagonal;"
        " Samples fill with correct answers within a few hundred steps.",
    ),
    "induction-transformer": PresetNote(
        "16 random symbols, then the same again: the setting where induction heads form.",
        "Heads attend from each token of the repeat to the token after its previous"
        " occurrence: a stripe 15 tokens below the diagonal of the map (measured: about 0.85"
        " of the weight after 600 steps). Here the repeat always starts at the same place,"
        " so the stripe can be learned from positions alone.",
    ),
    "chars-transformer": PresetNote(
        "A small Llama-style model (RMSNorm, RoPE, SwiGLU, GQA) on Python's own documentation.",
        "Samples turn from noise into words and Python-like phrases as the loss falls.",
    ),
    "post-norm-no-warmup": PresetNote(
        "Six post-norm blocks at learning rate 0.01 with no warm-up, sorting 8 digits.",
        "The loss stalls near chance: compare post-norm-warmup, the same with 200 steps of"
        " warm-up.",
    ),
    "post-norm-warmup": PresetNote(
        "The same post-norm stack and learning rate, with 200 steps of warm-up.",
        "It trains where post-norm-no-warmup stalls: early large updates are what break it.",
    ),
}


def preset(name: str) -> ExperimentConfig:
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    return PRESETS[name]
