"""The sections of how a model trains: initialisation, optimiser and
schedule, the run itself (the data's section: ``data.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config.choices import (
    CLIP_MODES,
    DEVICES,
    INIT_SCHEMES,
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    SEED_MAX,
)
from lab.core.fields import ConfigError, knob, validate_section


@dataclass(frozen=True)
class InitConfig:
    scheme: str = knob(
        "he_normal",
        "scheme",
        "How weights start: He (for ReLU), Xavier (for tanh and sigmoid), torch's default,"
        " orthogonal, a plain normal of the given std, or zeros",
        choices=INIT_SCHEMES,
        rebuild=True,
    )
    gain: float = knob(
        1.0,
        "gain",
        "Multiplies the scheme's standard deviation: above 1 signals grow layer by layer,"
        " below 1 they shrink",
        lo=0.0,
        hi=100.0,
        slider=(0.0, 4.0),
        step=0.05,
        rebuild=True,
    )
    std: float = knob(
        0.02,
        "std (normal)",
        "Standard deviation of the weights for the plain normal scheme",
        lo=0.0,
        hi=100.0,
        slider=(1e-4, 10.0),
        log=True,
        rebuild=True,
    )
    bias: float = knob(
        0.0,
        "bias",
        "The value every bias starts at (a small positive bias keeps ReLUs alive at first)",
        lo=-1e6,
        hi=1e6,
        slider=(-1.0, 1.0),
        step=0.01,
        rebuild=True,
    )

    def __post_init__(self) -> None:
        validate_section(self, "init")


@dataclass(frozen=True)
class OptimConfig:
    name: str = knob(
        "adam",
        "optimiser",
        "The update rule; another one starts with fresh state, the weights stay",
        choices=OPTIMIZERS,
    )
    lr: float = knob(
        0.01,
        "learning rate",
        "The step size of every update",
        lo=0.0,
        hi=1e6,  # absurd rates are allowed: seeing them diverge is part of the lesson
        lo_open=True,
        slider=(1e-5, 10.0),
        log=True,
    )
    momentum: float = knob(
        0.9,
        "momentum",
        "How much of the previous update carries into the next (SGD, RMSprop)",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.999),
        step=0.01,
    )
    nesterov: bool = knob(False, "Nesterov", "Look-ahead momentum (SGD with momentum > 0)")
    beta1: float = knob(
        0.9,
        "beta1",
        "Adam's decay of its running mean of gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.999),
        step=0.01,
    )
    beta2: float = knob(
        0.999,
        "beta2",
        "Adam's decay of its running mean of squared gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.9, 0.9999),
        step=0.0001,
    )
    eps: float = knob(
        1e-8,
        "epsilon",
        "Added to the denominator of adaptive optimisers, against division by ~0",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        slider=(1e-10, 1e-2),
        log=True,
    )
    alpha: float = knob(
        0.99,
        "alpha",
        "RMSprop's decay of its running mean of squared gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.5, 0.999),
        step=0.001,
    )
    weight_decay: float = knob(
        0.0,
        "weight decay",
        "Pulls every weight towards zero at each step (L2; decoupled for AdamW)",
        lo=0.0,
        hi=10.0,
        slider=(1e-6, 1.0),
        log=True,
    )
    schedule: str = knob(
        "constant",
        "schedule",
        "How the learning rate changes over the run",
        choices=SCHEDULES,
    )
    step_size: int = knob(
        500, "step every", "The step schedule multiplies the rate by its factor this often",
        lo=1, unit="steps",
    )  # fmt: skip
    gamma: float = knob(
        0.5,
        "step factor",
        "What the step schedule multiplies the rate by",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        slider=(0.01, 1.0),
        step=0.01,
    )
    warmup_steps: int = knob(
        100,
        "warm-up steps",
        "Steps over which the rate rises from near 0 to its full value",
        lo=0,
        slider=(0, 2000),
        step=10,
        unit="steps",
    )
    min_lr_ratio: float = knob(
        0.0,
        "cosine floor",
        "Where the cosine schedule ends, as a share of the learning rate",
        lo=0.0,
        hi=1.0,
        slider=(0.0, 1.0),
        step=0.01,
    )
    clip: str = knob(
        "none",
        "clip",
        "Gradient clipping: scale the whole gradient down to a norm, or cut each value",
        choices=CLIP_MODES,
    )
    clip_value: float = knob(
        1.0,
        "clip value",
        "The largest gradient norm (norm clipping) or value (value clipping)",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        slider=(1e-3, 100.0),
        log=True,
    )
    accumulation: int = knob(
        1,
        "accumulate",
        "Micro-batches whose gradients add up before each optimiser step",
        lo=1,
        hi=1024,
        slider=(1, 32),
        step=1,
    )

    def __post_init__(self) -> None:
        validate_section(self, "optim")
        if self.nesterov and self.name == "sgd" and self.momentum == 0.0:
            raise ConfigError("optim.nesterov", "Nesterov needs momentum > 0")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = knob(
        2000, "total steps", "Optimiser steps the run takes; raise it to go on", lo=1, hi=10**9
    )
    seed: int = knob(
        0, "seed", "Seed of the weights and of the order of batches", lo=0, hi=SEED_MAX,
        rebuild=True,
    )  # fmt: skip
    device: str = knob("cpu", "device", "Where the model trains", choices=DEVICES, rebuild=True)
    precision: str = knob(
        "fp32",
        "precision",
        "fp32, or bf16 autocast (faster on recent hardware, about 3 significant digits)",
        choices=PRECISIONS,
    )
    loss: str = knob(
        "auto",
        "loss",
        "auto: cross-entropy for classes, mean squared error for regression",
        choices=LOSSES,
        rebuild=True,
    )
    label_smoothing: float = knob(
        0.0,
        "label smoothing",
        "Share of each target spread over the other classes: discourages overconfidence",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.5),
        step=0.01,
    )
    eval_every: int = knob(
        100, "evaluate every", "Steps between evaluations on the whole train and test sets",
        lo=1, unit="steps",
    )  # fmt: skip
    threads: int = knob(
        0, "threads", "Torch's threads for training; 0 keeps its default", lo=0, hi=1024,
        rebuild=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_section(self, "train")
