"""The probes' section: which per-layer instruments run, how often, and how
they bin and judge what they see."""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config.choices import DEAD_UNIT_ACTIVATIONS
from lab.core.config.model import ModelConfig
from lab.core.fields import knob, validate_section


@dataclass(frozen=True)
class ProbesConfig:
    """Per-layer instruments (see ``lab.probes``). All of them run every
    ``every`` steps; statistics are taken on that step's batch."""

    enabled: bool = knob(True, "probes on", "Measure inside every layer while training")
    every: int = knob(
        10, "probe every", "Steps between probe collections (the probes' cost knob)", lo=1,
        slider=(1, 100), unit="steps",
    )  # fmt: skip
    gradients: bool = knob(
        True, "gradients", "Gradient and weight norms per layer, and the update/weight ratio"
    )
    activation_grads: bool = knob(
        True, "activation gradients", "||dL/dh|| of each layer's output h, and its std"
    )
    activations: bool = knob(
        True, "activations", "Mean, std, histogram and saturation after each activation"
    )
    dead_units: bool = knob(True, "dead units", "ReLU-family units with no positive output")
    dead_window: int = knob(
        8,
        "dead window",
        "A unit counts as dead when it gave no positive output on each of the last K probed"
        " batches",
        lo=1,
        hi=1024,
        slider=(1, 64),
        unit="probed batches",
    )
    hist_bins: int = knob(40, "histogram bins", "Bins of each activation histogram", lo=2, hi=1024)
    hist_range: float = knob(
        4.0,
        "histogram range",
        "Activation histograms span [0, r] after ReLU and [-r, r] after other activations;"
        " sigmoid and tanh keep their output range",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        slider=(0.1, 100.0),
        log=True,
    )
    saturation: float = knob(
        0.99,
        "saturated beyond",
        "Sigmoid outputs below 1-s or above s, and tanh |a| above s, count as saturated",
        lo=0.5,
        hi=1.0,
        lo_open=True,
        hi_open=True,
        slider=(0.51, 0.9999),
        step=0.001,
    )

    def __post_init__(self) -> None:
        validate_section(self, "probes")

    @property
    def binning(self) -> tuple[int, float]:
        """What a histogram series is binned by: one series holds one binning."""
        return self.hist_bins, self.hist_range


def histogram_span(activation: str, probes: ProbesConfig) -> tuple[float, float]:
    """The value range of an activation's histogram: the output range of
    sigmoid and tanh, [0, hist_range] for ReLU (never negative: a symmetric
    span would leave half the bins empty), else [-hist_range, hist_range]."""
    if activation == "relu":
        return 0.0, probes.hist_range
    if activation == "sigmoid":
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    return -probes.hist_range, probes.hist_range


def dead_units_absent(model: ModelConfig, probes: ProbesConfig) -> str | None:
    """Why a run has no dead-unit figures, or None when it has them."""
    if not (probes.enabled and probes.dead_units):
        return "the dead-unit probe is off"
    if not any(act in DEAD_UNIT_ACTIVATIONS for act in model.activations().values()):
        return "no ReLU-family layer; sigmoid and tanh units saturate instead"
    return None
