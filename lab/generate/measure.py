"""A measured decode: the lab's Transformer decoding with a cache of a chosen
layout and dtype, one step at a time, and after each step the bytes the
cache's storages hold per layer beside the formula, the paged cache's blocks,
the CUDA allocator's figures, and the step's time with the cache and
without it (the prefix recomputed). Then each layout holding a batch of
sequences of mixed lengths: what it reserves against what the tokens need.

It is a job (``lab.jobs``): a generator yielding progress with the rows so
far, cancellable between steps.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np
import torch
from torch import nn

from lab.core import protocol as p
from lab.core.fields import ConfigError
from lab.generate.caches import LAYOUTS, Cache, CacheSpec, make_cache
from lab.jobs import Progress


def cache_spec(model: nn.Module, request: p.DecodeKV, device: torch.device) -> CacheSpec:
    t = model.config  # type: ignore[union-attr]
    return CacheSpec(
        layers=t.layers,
        batch=request.batch,
        kv_heads=t.kv_heads,
        head_dim=t.shape().head_dim,
        context=t.context,
        dtype=request.dtype,
        device=str(device),
        block_size=request.block_size,
    )


def check_request(model: nn.Module, request: p.DecodeKV) -> int:
    """The length to decode to; a clear error for what cannot be served."""
    context = model.config.context  # type: ignore[union-attr]
    if request.batch < 1:
        raise ConfigError("batch", f"{request.batch}; allowed: at least 1")
    if request.layout not in LAYOUTS:
        raise ConfigError("layout", f"{request.layout!r} is not one of {', '.join(LAYOUTS)}")
    end = request.tokens or context
    if end > context:
        raise ConfigError(
            "tokens", f"{end} tokens exceed the model's context of {context}; allowed: up to"
            f" {context} (raise model.transformer.context for longer sequences)",
        )  # fmt: skip
    if not 1 <= request.prompt < end:
        raise ConfigError("prompt", f"{request.prompt}; allowed: 1 to {end - 1} tokens")
    for length in request.mixed:
        if not 1 <= length <= context:
            raise ConfigError("mixed", f"a length of {length}; allowed: 1 to {context}")
    return end


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _OneSequence:
    """A cache seen by one sequence's prefill: its keys go to ``sequence``'s
    slot (how a batch of mixed lengths is filled)."""

    def __init__(self, cache: Cache, sequence: int) -> None:
        self.cache, self.sequence = cache, sequence

    def update(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.cache.write(self.sequence, layer, keys, values)
        return keys, values  # the prefill attends within its own prompt


def mixed_lengths(request: p.DecodeKV, context: int) -> tuple[int, ...]:
    """The request's, or four sequences at 1/8, 1/4, 1/2 and all of the context."""
    if request.mixed:
        return request.mixed
    return tuple(max(1, context * k // 8) for k in (1, 2, 4, 8))


@torch.no_grad()
def layout_holdings(
    model: nn.Module, request: p.DecodeKV, lengths: tuple[int, ...], device: torch.device
) -> tuple[p.LayoutHolding, ...]:
    """Each layout filled with one prefill per sequence of ``lengths``."""
    vocab = model.vocab  # type: ignore[union-attr]
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (1, n), generator=generator).to(device) for n in lengths]
    spec = cache_spec(model, request, device)
    spec = CacheSpec(**{**spec.__dict__, "batch": len(lengths)})
    out = []
    for layout in LAYOUTS:
        cache = make_cache(layout, spec)
        for sequence, prompt in enumerate(prompts):
            model(prompt, _OneSequence(cache, sequence), 0)
        out.append(
            p.LayoutHolding(
                layout, sum(cache.held_bytes()), cache.needed_bytes(), cache.blocks_in_use()
            )
        )
    return tuple(out)


class _Rows:
    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.held: list[list[int]] = []
        self.formula: list[int] = []
        self.blocks: list[int] = []
        self.cached: list[float] = []
        self.full: list[float] = []
        self.cuda: list[tuple[int, int, int]] = []


@torch.no_grad()
def decode_steps(
    model: nn.Module, request: p.DecodeKV, device: torch.device, compare: bool = True
) -> Generator[Progress, None, p.KVDecode]:
    """The measured decode, as job steps; ``compare``: also time each token
    without the cache. ``model`` is the job's own copy, in eval mode."""
    end = check_request(model, request)
    spec = cache_spec(model, request, device)
    model.eval()
    vocab = model.vocab  # type: ignore[union-attr]
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, vocab, (request.batch, request.prompt), generator=generator)
    tokens = prompt.to(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    cache = make_cache(request.layout, spec)
    rows = _Rows()

    def report() -> p.KVDecode:
        return _report(request, device, spec, rows, prefill, cuda)

    _sync(device)
    start = time.perf_counter()
    logits = model(tokens, cache, 0)
    _sync(device)
    prefill = time.perf_counter() - start
    steps = end - request.prompt
    collected = [logits[:, -1:]]
    for index in range(steps):
        token = logits[:, -1].argmax(dim=-1, keepdim=True)
        if compare:  # the same token the way a cacheless loop gets it: the whole prefix
            _sync(device)
            start = time.perf_counter()
            model(tokens)
            _sync(device)
            rows.full.append(time.perf_counter() - start)
        tokens = torch.cat([tokens, token], dim=1)
        _sync(device)
        start = time.perf_counter()
        logits = model(token, cache, tokens.shape[1] - 1)
        _sync(device)
        rows.cached.append(time.perf_counter() - start)
        collected.append(logits[:, -1:])
        length = cache.lengths[0]
        rows.lengths.append(length)
        rows.held.append(cache.held_bytes())
        rows.formula.append(cache.needed_bytes())
        rows.blocks.append(cache.blocks_in_use() or 0)
        if cuda:
            rows.cuda.append(
                (
                    torch.cuda.memory_allocated(device),
                    torch.cuda.memory_reserved(device),
                    torch.cuda.max_memory_allocated(device),
                )
            )
        yield Progress((index + 1) / (steps + 1), f"decoding: {length} of {end} tokens", report())
    # what the cache's dtype costs: its logits against an fp32 recompute of the same tokens
    cached = torch.cat(collected, dim=1).float()  # positions prompt-1 .. end-1
    reference = model(tokens)[:, request.prompt - 1 :].float()
    error = float((cached - reference).abs().max())
    yield Progress(steps / (steps + 1), "each layout holding a batch of mixed lengths")
    lengths = mixed_lengths(request, spec.context)
    holdings = layout_holdings(model, request, lengths, device)
    final = report()
    return p.KVDecode(
        **{**final.__dict__, "logit_error": error, "layouts": holdings, "mixed": lengths}
    )


def _report(
    request: p.DecodeKV,
    device: torch.device,
    spec: CacheSpec,
    rows: _Rows,
    prefill: float,
    cuda: bool,
) -> p.KVDecode:
    n = len(rows.lengths)
    full = np.array(rows.full, dtype=float) if rows.full else np.full(n, np.nan)
    cuda_rows = np.array(rows.cuda, dtype=np.int64).reshape(-1, 3) if cuda else None
    return p.KVDecode(
        layout=request.layout,
        dtype=request.dtype,
        batch=request.batch,
        device=str(device),
        context=spec.context,
        lengths=np.array(rows.lengths, dtype=np.int64),
        held=np.array(rows.held, dtype=np.int64).reshape(n, spec.layers),
        formula=np.array(rows.formula, dtype=np.int64),
        blocks=np.array(rows.blocks, dtype=np.int64) if request.layout == "paged" else None,
        seconds_cached=np.array(rows.cached, dtype=float),
        seconds_full=full[:n],
        prefill_seconds=prefill,
        allocated=None if cuda_rows is None else cuda_rows[:, 0],
        reserved=None if cuda_rows is None else cuda_rows[:, 1],
        peak=None if cuda_rows is None else cuda_rows[:, 2],
    )
