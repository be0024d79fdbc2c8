"""Signal propagation at initialisation: activation std and gradient norms by
depth from one forward/backward pass, before any training step. This is the
picture that shows why initialisation matters, and it is cheap enough to
redraw whenever init, depth or activation change."""

from __future__ import annotations

import dataclasses

import torch

from lab.core.config import ExperimentConfig
from lab.data import Dataset, experiment_data
from lab.models import build_model
from lab.probes import Probes, ProbeSnapshot
from lab.train.init import init_model
from lab.train.task import make_task


def signal_propagation(
    config: ExperimentConfig, n_samples: int = 512, data: Dataset | None = None
) -> ProbeSnapshot:
    """Probe a freshly initialised model (same seed as training would use) on
    the first ``n_samples`` training points, in training mode (what the first
    step sees: BatchNorm uses batch statistics, dropout is on). ``data``: the
    config's dataset when the caller has it already (it is not made again)."""
    data = data if data is not None else experiment_data(config)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, data.input_shape, data.n_outputs)
    init_model(model, config)
    task = make_task(config, data.n_outputs, data.task)
    x = torch.as_tensor(data.x_train[:n_samples])
    y = task.targets(torch.as_tensor(data.y_train[:n_samples]))
    probe_config = dataclasses.replace(config.probes, enabled=True, every=1, dead_window=1)
    probes = Probes(model, probe_config)
    model.train()
    probes.begin()
    task.loss(model(x), y).backward()
    probes.after_backward()
    probes.after_clip(False)
    probes.finish(step=0)
    return probes.latest  # type: ignore[return-value]  # (a collection just finished)
