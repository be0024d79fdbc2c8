"""Random experiments for property tests (hypothesis): a preset of each
model kind with any of its fields redrawn from the field's own metadata
(its choices, its range, log-scaled where the knob is), now and then a
value outside what the field allows. Sizes are capped so that one example
builds and steps in milliseconds: the property is about correctness, and a
model too large for the machine is refused by the budget check anyway."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from lab.core.config import ExperimentConfig, field_knob
from lab.core.fields import ConfigError
from lab.core.presets import PRESETS
from lab.core.serialize import flatten, set_path

BASES = ["spirals-mlp", "regression-mlp", "shapes-cnn", "copy-transformer", "chars-transformer"]
# the most a size field may be, so that an example stays small
CAPS = {
    "width": 48,
    "layers": 4,
    "d_model": 64,
    "heads": 8,
    "kv_heads": 8,
    "context": 64,
    "n_samples": 400,
    "batch_size": 64,
    "seq_len": 16,
    "vocab": 24,
    "steps": 1000,
    "accumulation": 3,
    "kernel": 5,
    "hist_bins": 64,
    "n_classes": 6,
    "threads": 2,
}
SKIPPED = {"train.device", "train.threads", "model.layers.#"}  # this machine's; the layer count


def _cap(path: str, hi: float | None) -> float | None:
    cap = CAPS.get(path.rsplit(".", 1)[-1])
    return cap if cap is not None and (hi is None or cap < hi) else hi


@st.composite
def field_value(draw: st.DrawFn, path: str) -> Any:
    """A value for ``path``: usually one the field allows, sometimes not."""
    try:
        knob = field_knob(path)
    except ConfigError:
        return st.nothing()
    if draw(st.integers(0, 19)) == 0:  # one in twenty: outside what is allowed
        return draw(st.sampled_from([-1, 0, 10**9, "nonsense", None, math.nan, 1e300, True]))
    if knob.kind == "choice":
        return draw(st.sampled_from(knob.choices))
    if knob.kind == "bool":
        return draw(st.booleans())
    lo = knob.lo if knob.lo is not None else -1e3
    hi = _cap(path, knob.hi if knob.hi is not None else 1e3)
    if knob.kind == "int":
        return draw(st.integers(int(math.ceil(lo)), int(max(lo, hi))))
    if knob.log and lo >= 0:
        low = max(lo, 1e-8)
        exponent = draw(st.floats(math.log10(low), math.log10(max(hi, low))))
        return float(10**exponent)
    return draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))


@st.composite
def experiment_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """An experiment as a dict (what files and the wire carry), maybe invalid."""
    base = PRESETS[draw(st.sampled_from(BASES))].with_changes({"probes.every": 1})
    data = base.to_dict()
    paths = [p for p in flatten(data) if p not in SKIPPED]
    for path in draw(st.lists(st.sampled_from(paths), max_size=6, unique=True)):
        set_path(data, path, draw(field_value(path)))
    return data


def build(data: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig.from_dict(data)
