"""Decoding: the model's continuation of a prompt, one token at a time,
greedy or sampled (temperature, top-k, top-p), with a key-value cache (the
prompt in one pass, then one token per pass reading earlier keys and values
from the cache) or without one (the whole sequence recomputed each token)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lab.core.fields import ConfigError
from lab.generate.caches import Cache


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: the most likely one (temperature 0), or
    drawn from the softmax at ``temperature``, among the ``top_k`` most
    likely (0: all) and the smallest set whose probability reaches ``top_p``."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError("temperature", f"{self.temperature}; allowed: 0 or more")
        if self.top_k < 0:
            raise ConfigError("top_k", f"{self.top_k}; allowed: 0 (all) or more")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p", f"{self.top_p}; allowed: 0 < top_p <= 1")


GREEDY = Sampling()


def choose(
    logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None
) -> torch.Tensor:
    """The next token (batch, 1) from the last position's ``logits`` (batch, vocab)."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / sampling.temperature
    if sampling.top_k:
        kth = torch.topk(logits, min(sampling.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1:
        ordered, index = torch.sort(logits, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above
        drop = before >= sampling.top_p  # the most likely token is always kept
        logits = logits.scatter(-1, index, ordered.masked_fill(drop, float("-inf")))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


def _generator(sampling: Sampling, device: torch.device) -> torch.Generator | None:
    if sampling.temperature == 0:
        return None
    return torch.Generator(device=device).manual_seed(sampling.seed)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt: torch.Tensor,
    steps: int,
    sampling: Sampling = GREEDY,
    cache: Cache | None = None,
) -> torch.Tensor:
    """``steps`` new tokens after ``prompt`` (batch, T), in eval mode. With
    a ``cache``, the sequence must fit the context; without, the model reads
    the context's last tokens when the sequence outgrows it."""
    context = model.config.context  # type: ignore[union-attr]
    if cache is not None and prompt.shape[1] + steps - 1 > context:
        raise ConfigError(
            "tokens",
            f"{prompt.shape[1]} + {steps} tokens exceed the context of {context};"
            " a cache holds at most the context",
        )
    generator = _generator(sampling, prompt.device)
    was_training = model.training
    model.eval()
    try:
        tokens = prompt
        if cache is not None:
            logits = model(prompt, cache, 0)
        for step in range(steps):
            if cache is None:
                logits = model(tokens[:, -context:])
            token = choose(logits[:, -1], sampling, generator)
            tokens = torch.cat([tokens, token], dim=1)
            if cache is not None and step < steps - 1:
                logits = model(token, cache, tokens.shape[1] - 1)
    finally:
        model.train(was_training)
    return tokens[:, prompt.shape[1] :]


def greedy(model: nn.Module, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """The ``steps`` most likely next tokens, each from the whole sequence
    so far recomputed (no cache: any length, the context's last tokens)."""
    return generate(model, prompt, steps)
