"""Key-value caches in three layouts, each able to say what it holds:

- ``static``: preallocated to the context length for every sequence (one
  tensor per layer for K and one for V); writes fill it in place;
- ``concat``: grown by concatenation, one token (or a prompt) at a time: it
  holds exactly what has been written, padded to the longest sequence of
  the batch (a batch is one rectangular tensor);
- ``paged``: fixed blocks of ``block_size`` tokens, taken from a pool as
  sequences grow (as vLLM does); a sequence's keys are gathered from its
  blocks for attention (torch has no paged-attention kernel; the gather is
  the price of the layout here).

Values are stored as fp32, bf16, fp16, or int8 with a scale per token, kv
head and tensor (symmetric: the largest magnitude maps to 127); attention
reads them back in the model's dtype. ``held_bytes`` sums the bytes of the
storages the cache tensors own, per layer: what is really allocated.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from lab.core.fields import ConfigError
from lab.core.kv import KV_DTYPES, LAYOUTS, token_bytes

STORE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_BLOCK = 16  # tokens per block of a paged cache


@dataclass(frozen=True)
class CacheSpec:
    layers: int
    batch: int
    kv_heads: int
    head_dim: int
    context: int  # the most tokens a sequence may hold
    dtype: str = "fp32"
    device: str = "cpu"
    block_size: int = DEFAULT_BLOCK

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ConfigError("batch", f"{self.batch}; allowed: at least 1")
        if self.dtype not in KV_DTYPES:
            raise ConfigError("dtype", f"{self.dtype!r} is not one of {', '.join(KV_DTYPES)}")
        if self.block_size < 1:
            raise ConfigError("block_size", f"{self.block_size}; allowed: at least 1")


class Stored:
    """Keys or values of some tokens as stored: the tensor in the cache's
    dtype, and for int8 the scales (..., tokens, 1)."""

    def __init__(self, values: torch.Tensor, scales: torch.Tensor | None = None) -> None:
        self.values, self.scales = values, scales


def quantize(x: torch.Tensor, dtype: str) -> Stored:
    """``x`` (..., tokens, head_dim) in the cache's dtype."""
    if dtype == "int8":
        scale = x.abs().amax(dim=-1, keepdim=True).float().clamp_min(1e-12) / 127.0
        return Stored(torch.round(x.float() / scale).to(torch.int8), scale)
    return Stored(x.to(STORE_DTYPES[dtype]))


def dequantize(
    values: torch.Tensor, scales: torch.Tensor | None, like: torch.Tensor
) -> torch.Tensor:
    if scales is not None:
        return (values.float() * scales).to(like.dtype)
    return values.to(like.dtype)


def storage_bytes(*tensors: torch.Tensor | None) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        if t is not None:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


class Cache(ABC):
    """What attention calls (``update``) and what the KV view measures."""

    layout = ""

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self.lengths = [0] * spec.batch  # tokens held per sequence (layer 0's count)

    def _check_room(self, new: int, sequences: range | list[int]) -> None:
        for s in sequences:
            if self.lengths[s] + new > self.spec.context:
                raise ConfigError(
                    "tokens",
                    f"{self.lengths[s] + new} tokens exceed the context of {self.spec.context}",
                )

    def update(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append keys and values (batch, kv_heads, new, head_dim) of every
        sequence (all at the same length) for ``layer``; return all so far."""
        new = keys.shape[-2]
        if layer == 0:
            self._check_room(new, range(self.spec.batch))
        self._append(layer, keys, values)
        if layer == self.spec.layers - 1:
            self.lengths = [n + new for n in self.lengths]
        return self._read(layer, keys)

    def write(self, sequence: int, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append one sequence's keys and values (1, kv_heads, new, head_dim):
        how a batch of sequences of different lengths is filled."""
        new = keys.shape[-2]
        if layer == 0:
            self._check_room(new, [sequence])
        self._write_one(sequence, layer, keys, values)
        if layer == self.spec.layers - 1:
            self.lengths[sequence] += new

    @abstractmethod
    def _append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None: ...

    @abstractmethod
    def _write_one(
        self, sequence: int, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> None: ...

    @abstractmethod
    def _read(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abstractmethod
    def held_bytes(self) -> list[int]:
        """Bytes the cache's storages hold, per layer."""

    def needed_bytes(self) -> int:
        """What the tokens written need, at the cache's dtype (the formula)."""
        s = self.spec
        return s.layers * sum(self.lengths) * token_bytes(s.kv_heads, s.head_dim, s.dtype)

    def blocks_in_use(self) -> int | None:
        return None


class _Dense(Cache):
    """Static and concat: per layer one (batch, kv_heads, tokens, head_dim)
    tensor for K and one for V (and their scales for int8)."""

    def __init__(self, spec: CacheSpec, tokens: int) -> None:
        super().__init__(spec)
        self.k: list[Stored] = [self._empty(tokens) for _ in range(spec.layers)]
        self.v: list[Stored] = [self._empty(tokens) for _ in range(spec.layers)]
        self.filled = [0] * spec.layers  # static: tokens written per layer (all sequences)

    def _empty(self, tokens: int) -> Stored:
        s = self.spec
        shape = (s.batch, s.kv_heads, tokens, s.head_dim)
        if s.dtype == "int8":
            return Stored(
                torch.zeros(shape, dtype=torch.int8, device=s.device),
                torch.zeros((*shape[:-1], 1), dtype=torch.float32, device=s.device),
            )
        return Stored(torch.zeros(shape, dtype=STORE_DTYPES[s.dtype], device=s.device))

    def held_bytes(self) -> list[int]:
        return [
            storage_bytes(self.k[i].values, self.k[i].scales, self.v[i].values, self.v[i].scales)
            for i in range(self.spec.layers)
        ]


class StaticCache(_Dense):
    """Preallocated to the context. ``update`` (the whole batch in step) and
    ``write`` (one sequence: a batch of mixed lengths) are not mixed in one
    cache."""

    layout = "static"

    def __init__(self, spec: CacheSpec) -> None:
        super().__init__(spec, spec.context)

    def _put(self, target: Stored, x: torch.Tensor, rows: slice, start: int) -> None:
        q = quantize(x, self.spec.dtype)
        end = start + x.shape[-2]
        target.values[rows, :, start:end] = q.values
        if target.scales is not None and q.scales is not None:
            target.scales[rows, :, start:end] = q.scales

    def _append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        start = self.filled[layer]
        self._put(self.k[layer], keys, slice(None), start)
        self._put(self.v[layer], values, slice(None), start)
        self.filled[layer] = start + keys.shape[-2]

    def _write_one(
        self, sequence: int, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> None:
        start = self.lengths[sequence]
        rows = slice(sequence, sequence + 1)
        self._put(self.k[layer], keys, rows, start)
        self._put(self.v[layer], values, rows, start)

    def _read(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.filled[layer]
        k, v = self.k[layer], self.v[layer]
        if k.scales is None:  # a view of the filled part: no copy
            return k.values[:, :, :n].to(like.dtype), v.values[:, :, :n].to(like.dtype)
        assert v.scales is not None
        return (
            dequantize(k.values[:, :, :n], k.scales[:, :, :n], like),
            dequantize(v.values[:, :, :n], v.scales[:, :, :n], like),
        )


class ConcatCache(_Dense):
    layout = "concat"

    def __init__(self, spec: CacheSpec) -> None:
        super().__init__(spec, 0)

    def _cat(self, old: Stored, new: torch.Tensor) -> Stored:
        q = quantize(new, self.spec.dtype)
        values = torch.cat([old.values, q.values], dim=-2)
        scales = None if old.scales is None else torch.cat([old.scales, q.scales], dim=-2)
        return Stored(values, scales)

    def _append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.k[layer] = self._cat(self.k[layer], keys)
        self.v[layer] = self._cat(self.v[layer], values)

    def _write_one(
        self, sequence: int, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> None:
        """A batch is rectangular: past the longest sequence it grows for
        all of them (the others padded), else it writes in place."""
        start, end = self.lengths[sequence], self.lengths[sequence] + keys.shape[-2]
        for name, x in (("k", keys), ("v", values)):
            stored: Stored = getattr(self, name)[layer]
            width = stored.values.shape[-2]
            if end > width:
                pad = torch.zeros_like(x[:1, :, :1]).expand(self.spec.batch, -1, end - width, -1)
                stored = self._cat(stored, pad)
                getattr(self, name)[layer] = stored
            q = quantize(x, self.spec.dtype)
            stored.values[sequence : sequence + 1, :, start:end] = q.values
            if stored.scales is not None and q.scales is not None:
                stored.scales[sequence : sequence + 1, :, start:end] = q.scales

    def _read(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.k[layer], self.v[layer]
        return dequantize(k.values, k.scales, like), dequantize(v.values, v.scales, like)


class PagedCache(Cache):
    """Blocks of ``block_size`` tokens for K and V together, one tensor per
    block and layer (2, kv_heads, block_size, head_dim), taken as a sequence
    needs them; each sequence has its table of blocks."""

    layout = "paged"

    def __init__(self, spec: CacheSpec) -> None:
        super().__init__(spec)
        # per layer, per sequence: its blocks in order
        self.tables: list[list[list[Stored]]] = [
            [[] for _ in range(spec.batch)] for _ in range(spec.layers)
        ]
        self.layer_lengths = [[0] * spec.batch for _ in range(spec.layers)]

    def _block(self) -> Stored:
        s = self.spec
        shape = (2, s.kv_heads, s.block_size, s.head_dim)
        if s.dtype == "int8":
            return Stored(
                torch.zeros(shape, dtype=torch.int8, device=s.device),
                torch.zeros((*shape[:-1], 1), dtype=torch.float32, device=s.device),
            )
        return Stored(torch.zeros(shape, dtype=STORE_DTYPES[s.dtype], device=s.device))

    def _write_one(
        self, sequence: int, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> None:
        s = self.spec
        table = self.tables[layer][sequence]
        start = self.layer_lengths[layer][sequence]
        end = start + keys.shape[-2]
        while len(table) * s.block_size < end:
            table.append(self._block())
        kv = quantize(torch.stack([keys[0], values[0]]), s.dtype)  # (2, kvh, new, hd)
        position = start
        while position < end:
            block, offset = divmod(position, s.block_size)
            take = min(s.block_size - offset, end - position)
            source = slice(position - start, position - start + take)
            table[block].values[:, :, offset : offset + take] = kv.values[:, :, source]
            if kv.scales is not None:
                table[block].scales[:, :, offset : offset + take] = kv.scales[:, :, source]  # type: ignore[index]
            position += take
        self.layer_lengths[layer][sequence] = end

    def _append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        for sequence in range(self.spec.batch):
            self._write_one(
                sequence, layer, keys[sequence : sequence + 1], values[sequence : sequence + 1]
            )

    def _read(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every sequence's blocks gathered into (batch, kv_heads, tokens,
        head_dim) for attention (all sequences at the same length here)."""
        n = self.layer_lengths[layer][0]
        rows = []
        for table in self.tables[layer]:
            values = torch.cat([b.values for b in table], dim=-2)[:, :, :n]
            scales = None
            if table[0].scales is not None:
                scales = torch.cat([b.scales for b in table], dim=-2)[:, :, :n]  # type: ignore[misc]
            rows.append(dequantize(values, scales, like))
        kv = torch.stack(rows)  # (batch, 2, kvh, n, hd)
        return kv[:, 0], kv[:, 1]

    def held_bytes(self) -> list[int]:
        return [
            sum(storage_bytes(b.values, b.scales) for table in layer for b in table)
            for layer in self.tables
        ]

    def blocks_in_use(self) -> int:
        return sum(len(table) for table in self.tables[0]) * self.spec.layers

    def block_bytes(self) -> int:
        """One block of one layer (K and V)."""
        return storage_bytes(*(lambda b: (b.values, b.scales))(self._block()))


def check_dtype(dtype: str, device: str) -> None:
    """Refuse a cache dtype the device cannot store and convert (bf16 on a
    GPU without it, for one), naming the field."""
    where = torch.device(device)
    if dtype == "bf16" and where.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("dtype", f"bf16 is not supported on {torch.cuda.get_device_name(where)}")
    target = torch.int8 if dtype == "int8" else STORE_DTYPES[dtype]
    try:
        torch.ones(2, device=where).to(target).float()
    except (RuntimeError, TypeError) as exc:
        raise ConfigError("dtype", f"{dtype} is not available on {device}: {exc}") from exc


def make_cache(layout: str, spec: CacheSpec) -> Cache:
    if layout not in LAYOUTS:
        raise ConfigError("layout", f"{layout!r} is not one of {', '.join(LAYOUTS)}")
    check_dtype(spec.dtype, spec.device)
    return {"static": StaticCache, "concat": ConcatCache, "paged": PagedCache}[layout](spec)


def blocks_for(tokens: int, block_size: int) -> int:
    return math.ceil(tokens / block_size)
