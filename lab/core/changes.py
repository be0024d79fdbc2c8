"""Config changes: what applying one takes, and what it is in words.

- live: optimiser hyper-parameters, schedule, clipping, accumulation, batch
  size, precision, label smoothing, run length, evaluation period, probes —
  written into the running session before the next step; weights and
  optimiser state stay;
- optimiser rebuild: another optimiser (or SGD's momentum switched on or
  off) — the weights stay, the optimiser starts fresh;
- rebuild: model, init, data, seed, device, loss (every field whose knob says
  ``rebuild``) — the experiment starts over.

Torch-free: the window says the same words as the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config import ExperimentConfig, OptimConfig, field_label, flatten, rebuilds
from lab.core.protocol import ChangeKind

MOST_NAMED = 3  # a change of more fields is summed up after this many


@dataclass(frozen=True)
class ChangeReport:
    """What a config change did when it was applied."""

    fields: tuple[str, ...]
    kind: ChangeKind
    words: str = ""  # the change in words (``describe``)

    @property
    def message(self) -> str:
        if self.kind == ChangeKind.NONE:
            return "no change"
        what = self.words or ", ".join(self.fields)
        return {
            ChangeKind.LIVE: f"{what}: applied on the next step",
            ChangeKind.OPTIMIZER: f"{what}: optimiser rebuilt, weights kept",
            ChangeKind.REBUILD: f"{what}: rebuilt from scratch",
        }[self.kind]


def optimizer_rebuild(old: OptimConfig, new: OptimConfig) -> bool:
    """Whether going from ``old`` to ``new`` needs a new optimiser object:
    another optimiser, or SGD's momentum switching on or off (lr, betas,
    decay and the like are written into the running one)."""
    if old.name != new.name:
        return True
    return old.name == "sgd" and (old.momentum == 0) != (new.momentum == 0)


def classify_change(old: ExperimentConfig, new: ExperimentConfig) -> ChangeReport:
    fields = tuple(old.diff(new))
    if not fields:
        return ChangeReport((), ChangeKind.NONE)
    words = describe(old, new, fields)
    if any(rebuilds(f) for f in fields):
        return ChangeReport(fields, ChangeKind.REBUILD, words)
    if optimizer_rebuild(old.optim, new.optim):
        return ChangeReport(fields, ChangeKind.OPTIMIZER, words)
    return ChangeReport(fields, ChangeKind.LIVE, words)


def describe(old: ExperimentConfig, new: ExperimentConfig, fields: tuple[str, ...]) -> str:
    """The change in a few words: "learning rate 0.01 → 0.003", "activation of
    20 layers → relu", "3 hidden layers → 4", "5 settings"."""
    before, after = flatten(old.to_dict()), flatten(new.to_dict())
    layers = [f for f in fields if f.startswith("model.layers[")]
    others = [f for f in fields if not f.startswith("model.layers")]
    parts = []
    if "model.layers.#" in fields:
        parts.append(f"{before['model.layers.#']} hidden layers → {after['model.layers.#']}")
    elif layers:
        parts += _layer_words(layers, after)
    for path in others:
        parts.append(f"{field_label(path)} {_value(before.get(path))} → {_value(after.get(path))}")
    if len(parts) > MOST_NAMED:
        return f"{len(parts)} settings ({', '.join(parts[:2])}, …)"
    return "; ".join(parts)


def _layer_words(paths: list[str], after: dict) -> list[str]:
    """Layer edits by field: "activation of layer 3 → tanh", "width of 20 layers"."""
    by_field: dict[str, list[str]] = {}
    for path in paths:
        by_field.setdefault(path.rsplit(".", 1)[1], []).append(path)
    words = []
    for name, changed in by_field.items():
        values = {after[p] for p in changed}
        value = f" → {_value(values.pop())}" if len(values) == 1 else ""
        if len(changed) == 1:
            index = int(changed[0].split("[", 1)[1].split("]", 1)[0])
            words.append(f"{name} of layer {index + 1}{value}")
        else:
            words.append(f"{name} of {len(changed)} layers{value}")
    return words


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value == "":
        return "(none)"  # an empty path or column: not a blank in the sentence
    return str(value)
