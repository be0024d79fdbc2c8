"""The names a config field chooses from, and facts about them known
without building anything (which datasets are images, what each optimiser
reads)."""

from __future__ import annotations

SCHEMA_VERSION = 2
# Fields each schema version added: a file of an older version lacks them and
# reads with their defaults (which keep the old meaning).
FIELDS_SINCE = {
    2: (
        "model.source",
        "data.path", "data.target", "data.target_kind", "data.impute", "data.standardize",
        "data.limit", "data.image_size", "data.colour",
    ),
}  # fmt: skip

MODEL_KINDS = ("mlp", "cnn", "transformer", "custom")  # custom: a model of the user's own
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid", "identity")
# Activations whose units can die (no positive output for any input): the dead-unit probe's
DEAD_UNIT_ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu")
NORMS = ("none", "batch", "layer", "rms")
NORM_POSITIONS = ("post", "pre")
# How a residual branch is scaled: not at all, by 1/sqrt(2N) for N residual
# blocks, or by a learnable scalar that starts at zero (ReZero).
RESIDUAL_SCALES = ("none", "inv_sqrt_2n", "rezero")
INIT_SCHEMES = (
    "default",
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "orthogonal",
    "normal",
    "zeros",
)
DATASETS = (
    "spirals",
    "moons",
    "circles",
    "xor",
    "gaussians",
    "regression1d",
    "shapes",
    "copy",
    "reverse",
    "sort",
    "induction",
    "chars",
    # real data: small tables and digits shipped in assets/datasets, the
    # classic image sets downloaded on first use, and a file of the user's
    "iris",
    "wine",
    "breast_cancer",
    "diabetes",
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "file",
)
BUNDLED_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")
DOWNLOADED_DATASETS = ("mnist", "fashion_mnist", "cifar10")
FILE_DATASET = "file"
REAL_DATASETS = BUNDLED_DATASETS + DOWNLOADED_DATASETS + (FILE_DATASET,)
# Real image sets by name: (channels, height, width) of each image.
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
PIXEL_DATASETS = tuple(IMAGE_SHAPES)
# A user's file by its suffix: a table, arrays, or text for the character-level
# Transformer; a folder is an image folder (one subfolder of PNG/JPEG per class).
FILE_FORMATS = {
    ".csv": "table",
    ".tsv": "table",
    ".npz": "arrays",
    ".npy": "arrays",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TARGET_KINDS = ("auto", "classification", "regression")
IMPUTE = ("refuse", "mean")
COLOURS = ("grayscale", "rgb")
# Examples in each real set by name (train and test together), for batch-size checks.
REAL_SIZES = {
    "iris": 150,
    "wine": 178,
    "breast_cancer": 569,
    "diabetes": 442,
    "digits": 1797,
    "mnist": 70000,
    "fashion_mnist": 70000,
    "cifar10": 60000,
}
TWO_CLASS_DATASETS = ("moons", "xor")
IMAGE_DATASETS = ("shapes",)
# Token sequences, learnt by next-token prediction (a Transformer's data).
SEQUENCE_DATASETS = ("copy", "reverse", "sort", "induction", "chars")
# The symbolic tasks: a question of seq_len symbols, a separator, the answer
# (induction: the sequence, then itself again); chars: windows of a text.
SYMBOL_TASKS = ("copy", "reverse", "sort")
# Input features (MLP) or channels (CNN) of each dataset, known without generating it.
# The generated images (``shapes``): square, one channel, this many pixels a side;
# each pooling layer halves them, down to one pixel.
IMAGE_SIZE = 16
MAX_POOLS = IMAGE_SIZE.bit_length() - 1
INPUT_WIDTHS = {"regression1d": 1, "shapes": 1} | {
    name: 2 for name in ("spirals", "moons", "circles", "xor", "gaussians")
}  # (sequences: one token per position)
REGRESSION_DATASETS = ("regression1d", "diabetes")
INPUT_WIDTHS |= {"iris": 4, "wine": 13, "breast_cancer": 30, "diabetes": 10}
INPUT_WIDTHS |= {name: shape[0] for name, shape in IMAGE_SHAPES.items()}  # a CNN's channels
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adamw")
SCHEDULES = ("constant", "step", "warmup_cosine", "one_cycle")
# The optim fields each optimiser reads (all of them live: a running optimiser
# takes a change on its next step) and each schedule reads besides lr.
OPTIMIZER_FIELDS = {
    "sgd": ("lr", "momentum", "weight_decay", "nesterov"),
    "rmsprop": ("lr", "momentum", "alpha", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}
SCHEDULE_FIELDS = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "warmup_cosine": ("warmup_steps", "min_lr_ratio"),
    "one_cycle": ("warmup_steps",),
}
CLIP_MODES = ("none", "norm", "value")
DEVICES = ("cpu", "cuda", "mps", "auto")
PRECISIONS = ("fp32", "bf16")
LOSSES = ("auto", "cross_entropy", "mse", "huber")
MAX_LAYERS = 256
SEED_MAX = 2**32 - 1
POSITIONAL = ("learned", "sinusoidal", "rope", "none")
TRANSFORMER_NORMS = ("layer", "rms")
FFN_KINDS = ("gelu", "relu", "swiglu")
MAX_CONTEXT = 4096
