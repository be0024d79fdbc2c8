"""Export to ONNX, verified with onnxruntime.

``export_steps`` (a job of ``lab.jobs``: progress per stage, cancellable
between stages) and ``export_onnx`` (the same, run to the end) write one
self-contained ``.onnx`` file with a dynamic batch axis, using torch.onnx's
current (dynamo) exporter, or the older TorchScript exporter when asked
(``legacy=True``). Every export is then checked: the onnx
checker, onnxruntime against PyTorch on fresh random inputs at several batch
sizes (max abs and relative difference), and latency of PyTorch eager vs
onnxruntime. The report is returned and saved as JSON beside the model.

Failures (an op the exporter rejects, an exporter error, a parity failure)
raise ``ExportError`` with the reason, and leave no file behind: the model is
written to a temporary file and moved into place only when it passed; a
cancelled export leaves nothing either.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.core.errors import ExportError
from lab.core.fileio import atomic_path, atomic_write_text
from lab.jobs import Progress
from lab.models.hooks import explicit_attention

__all__ = ["ExportError", "ExportReport", "export_onnx", "export_steps", "report_path"]

PRODUCER = "knoblab"
PARITY_TOLERANCE = 1e-4  # max abs difference (fp32) that counts as the same model
PARITY_BATCHES = (1, 7, 64)
LATENCY_BATCHES = (1, 256)


@dataclass
class ExportReport:
    path: str
    exporter: str  # "dynamo" or "torchscript"
    checker: str  # the onnx checker's verdict (full check)
    opset: int
    inputs: list[dict[str, Any]]  # name, shape (symbolic axes as names), dtype
    outputs: list[dict[str, Any]]
    file_bytes: int
    export_seconds: float
    parity: dict[str, dict[str, float]] = field(default_factory=dict)  # batch -> max_abs, max_rel
    latency_ms: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # batch -> torch, onnxruntime p50
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @property
    def max_abs_diff(self) -> float:
        return max(entry["max_abs"] for entry in self.parity.values())


def report_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.stem + ".report.json")


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter prints progress lines and warns about torchvision."""
    loggers = [
        logging.getLogger(name)
        for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Inputs:
    """What a model reads: feature vectors or images of ``shape`` (random
    normal values), or, for a Transformer, token ids below its vocabulary in
    sequences of up to its context (then the sequence axis is dynamic too)."""

    def __init__(self, model: nn.Module, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.tokens = getattr(model, "input_dtype", torch.float32) == torch.int64
        self.vocab = getattr(model, "vocab", 0)
        self.context = model.config.context if self.tokens else 0  # type: ignore[union-attr]

    def sample(self, batch: int, generator: torch.Generator, length: int | None = None):  # noqa: ANN201
        if self.tokens:
            size = (batch, length or self.shape[0])
            return torch.randint(0, self.vocab, size, generator=generator)
        return torch.randn((batch, *self.shape), generator=generator)

    def lengths(self) -> tuple[int | None, ...]:
        """Sequence lengths the parity check covers (None: the input's own)."""
        return (None, max(1, self.shape[0] // 2)) if self.tokens else (None,)

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {0: "batch", 1: "sequence"} if self.tokens else {0: "batch"}


def _export(
    model: nn.Module, inputs: Inputs, example: torch.Tensor, path: Path, legacy: bool
) -> None:
    axes = inputs.dynamic_axes
    if legacy:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": axes, "output": axes},
        )
    else:
        dims = {0: torch.export.Dim("batch", min=1, max=1 << 20)}
        if inputs.tokens:
            dims[1] = torch.export.Dim("sequence", min=1, max=inputs.context)
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            dynamic_shapes=(dims,),
            input_names=["input"],
            output_names=["output"],
            optimize=True,
        )
        program.save(str(path), external_data=False)


def _describe(values: Any) -> list[dict[str, Any]]:
    import onnx

    out = []
    for value in values:
        dims = value.type.tensor_type.shape.dim
        out.append(
            {
                "name": value.name,
                "shape": [d.dim_param or d.dim_value for d in dims],
                "dtype": onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower(),
            }
        )
    return out


def _p50_ms(fn: Any, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def export_onnx(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: str | Path,
    *,
    progress: Callable[[str], None] = lambda _stage: None,
    **options: Any,
) -> ExportReport:
    """Export ``model`` (inputs of ``input_shape`` without the batch axis) to
    ``path``, verify it and return the report (also saved beside the model);
    ``progress(stage)`` at each stage; options as ``export_steps``."""
    steps = export_steps(model, input_shape, path, **options)
    while True:
        try:
            report = next(steps)
        except StopIteration as done:
            return done.value
        progress(report.message)


def export_steps(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: str | Path,
    *,
    config_json: str = "",
    legacy: bool = False,
    parity_batches: tuple[int, ...] = PARITY_BATCHES,
    latency_batches: tuple[int, ...] = LATENCY_BATCHES,
    latency_repeats: int = 50,
    seed: int = 0,
) -> Generator[Progress, None, ExportReport]:
    """The export as a job: a ``Progress`` before each stage (exporting,
    checking, each parity batch, each latency batch), the report at the end."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    model = copy.deepcopy(model).cpu().float().eval()  # inference mode: BatchNorm stats, no dropout
    generator = torch.Generator().manual_seed(seed)
    inputs = Inputs(model, input_shape)
    if inputs.tokens and legacy:
        raise ExportError(
            "the TorchScript exporter cannot export the Transformer (it has no RMSNorm and"
            " turns the positional slice into a missing input); use the default exporter"
        )
    example = inputs.sample(2, generator)
    exporter = "torchscript" if legacy else "dynamo"
    # the fused path's choice by sequence length does not trace: the explicit one
    with atomic_path(path) as tmp, explicit_attention(model):
        yield Progress(0.0, "exporting")
        start = time.perf_counter()
        try:
            with _quiet_exporter():
                _export(model, inputs, example, tmp, legacy)
        except Exception as exc:  # the exporter's own reason is what the user needs
            raise ExportError(
                f"the {exporter} exporter failed: {type(exc).__name__}: {exc}"
            ) from exc
        export_seconds = time.perf_counter() - start
        proto = onnx.load(str(tmp))
        metadata = {"producer": PRODUCER, "knoblab_config": config_json, "exporter": exporter}
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = PRODUCER
        onnx.save(proto, str(tmp))
        yield Progress(0.6, "checking")
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"the exported file fails the onnx checker: {exc}") from exc
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        report = ExportReport(
            path=str(path),
            exporter=exporter,
            checker="passed (onnx.checker, full check with shape inference)",
            opset=max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")),
            inputs=_describe(proto.graph.input),
            outputs=_describe(proto.graph.output),
            file_bytes=tmp.stat().st_size,
            export_seconds=round(export_seconds, 4),
            metadata={k: v for k, v in metadata.items() if k != "knoblab_config"},
        )
        with torch.no_grad():
            cases = [(b, n) for n in inputs.lengths() for b in parity_batches]
            for index, (batch, length) in enumerate(cases):
                where = f"batch {batch}" + (f", {length} tokens" if length else "")
                yield Progress(
                    0.7 + 0.15 * index / len(cases), f"comparing with onnxruntime at {where}"
                )
                x = inputs.sample(batch, generator, length)
                expected = model(x).numpy()
                got = session.run(None, {input_name: x.numpy()})[0]
                if got.shape != expected.shape:
                    raise ExportError(
                        f"{where}: onnxruntime gave shape {got.shape}, torch {expected.shape}"
                    )
                diff = np.abs(got - expected)
                max_abs = float(diff.max())
                max_rel = float((diff / np.maximum(np.abs(expected), 1e-6)).max())
                key = str(batch) if length is None else f"{batch}x{length}"
                report.parity[key] = {"max_abs": max_abs, "max_rel": max_rel}
                if not max_abs <= PARITY_TOLERANCE:
                    raise ExportError(
                        f"onnxruntime differs from PyTorch by {max_abs:.3g} at {where} "
                        f"(tolerance {PARITY_TOLERANCE:g})"
                    )
            for index, batch in enumerate(latency_batches):
                fraction = 0.85 + 0.15 * index / len(latency_batches)
                yield Progress(fraction, f"timing at batch {batch}")
                x = inputs.sample(batch, generator)
                feed = {input_name: x.numpy()}
                report.latency_ms[str(batch)] = {
                    "torch": round(_p50_ms(lambda x=x: model(x), latency_repeats), 4),
                    "onnxruntime": round(
                        _p50_ms(lambda feed=feed: session.run(None, feed), latency_repeats), 4
                    ),
                }
    atomic_write_text(report_path(path), report.to_json())
    return report
