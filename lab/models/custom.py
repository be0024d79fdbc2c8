"""A model of the person's own: ``model.source = "path/to/file.py:make_model"``
names a function of ``(input_shape, n_outputs)`` that returns an
``nn.Module``. The file runs when the experiment is built — only ever
because the person named it (a run folder records its SHA-256; see
``lab.engine.runs``).

``CustomModel`` wraps it so the probes see it as they see the lab's own
models: its layers are its leaf modules that hold weights or are an
activation the lab knows, named as ``named_modules()`` names them
(``features.0``, ``fc1``). What the probes cannot measure is refused or said
plainly (``blind``): a module called twice in one forward pass would mix its
calls' statistics, parameters held beside submodules belong to no layer,
and an activation written as a function (``F.relu``) has no module to hook.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lab.core.errors import ConfigError
from lab.models.layers import activation_name

FIELD = "model.source"


def source_file(source: str) -> Path:
    return Path(source.rpartition(":")[0]).expanduser()


def source_sha256(source: str) -> str:
    return hashlib.sha256(source_file(source).read_bytes()).hexdigest()


def load_function(source: str) -> Callable[..., nn.Module]:
    """The function ``source`` names, its file run afresh (an edit counts)."""
    path, name = source_file(source), source.rpartition(":")[2]
    if not path.is_file():
        raise ConfigError(FIELD, f"{path} does not exist")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"knoblab_model_{digest}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(FIELD, f"{path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the person's code: say what it raised
        raise ConfigError(FIELD, f"{path} failed to run: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(FIELD, f"{path} has no function {name!r}")
    return function


def build_custom(source: str, input_shape: tuple[int, ...], n_outputs: int) -> CustomModel:
    function = load_function(source)
    try:
        inner = function(tuple(input_shape), int(n_outputs))
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(
            FIELD, f"{source}({tuple(input_shape)}, {n_outputs}) raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(inner, nn.Module):
        raise ConfigError(FIELD, f"{source} returned a {type(inner).__name__}, not an nn.Module")
    return CustomModel(inner, tuple(input_shape), n_outputs, source)


def _activation(module: nn.Module) -> str:
    name = activation_name(module)
    return "" if name == "identity" else name


class CustomModel(nn.Module):
    def __init__(
        self, inner: nn.Module, input_shape: tuple[int, ...], n_outputs: int, source: str
    ) -> None:
        super().__init__()
        self.inner = inner
        self.source = source
        self._layers, self.blind = self._find_layers(input_shape, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        return list(self._layers)

    def _find_layers(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[list[tuple[str, nn.Module]], tuple[str, ...]]:
        """The leaf modules the probes hook, checked by one forward pass; and
        what they cannot see, in words."""
        blind: list[str] = []
        for name, module in self.inner.named_modules():
            own = [p for p, _ in module.named_parameters(recurse=False)]
            if own and any(True for _ in module.children()):
                raise ConfigError(
                    FIELD,
                    f"module {name or 'the model'!r} holds parameters of its own ({', '.join(own)})"
                    " beside its submodules; Knoblab measures a model by its leaf modules: put"
                    " them in a module of their own",
                )
        leaves = [
            (name or "model", module)
            for name, module in self.inner.named_modules()
            if not any(True for _ in module.children())
            and (any(True for _ in module.parameters()) or _activation(module))
        ]
        calls = {id(module): 0 for _, module in leaves}

        def count(module: nn.Module, _inputs: object, _output: object) -> None:
            calls[id(module)] += 1

        handles = [module.register_forward_hook(count) for _, module in leaves]
        was_training = self.inner.training
        try:
            self.inner.eval()
            with torch.no_grad():
                out = self.inner(torch.zeros((2, *input_shape)))
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                FIELD, f"the model's forward pass fails on inputs of shape {input_shape}: {exc}"
            ) from exc
        finally:
            self.inner.train(was_training)
            for handle in handles:
                handle.remove()
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(
                FIELD, f"the model gives {got} for 2 examples; the data needs (2, {n_outputs})"
            )
        layers = []
        for name, module in leaves:
            n = calls[id(module)]
            if n > 1:
                raise ConfigError(
                    FIELD,
                    f"module {name!r} is called {n} times in one forward pass, so its figures"
                    " would mix the calls: give each use a module of its own (one nn.ReLU per"
                    " layer)",
                )
            if n == 0:
                if any(True for _ in module.parameters()):
                    raise ConfigError(FIELD, f"module {name!r} has weights but is never called")
                continue
            layers.append((name, module))
        acts = [name for name, module in layers if _activation(module)]
        if not acts:
            blind.append(
                "no activation module the lab knows (ReLU, LeakyReLU, GELU, SiLU, Tanh,"
                " Sigmoid): no activation statistics or dead units (an activation written as"
                " a function, F.relu, has no module to watch)"
            )
        others = sorted(
            {
                type(module).__name__
                for _, module in layers
                if not _activation(module)
                and not isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Embedding)
                and not type(module).__name__.endswith("Norm")
                and not type(module).__name__.startswith("BatchNorm")
            }
        )
        if others:
            blind.append(
                f"{', '.join(others)}: gradient and output figures only, as one layer each"
                " (Knoblab does not look inside them)"
            )
        return layers, tuple(blind)
