"""What the engine shows of a Transformer besides metric rows: the attention
maps of one sequence, and the model's greedy answers to test examples (or its
continuation of typed text), beside the right answers."""

from __future__ import annotations

import torch

from lab.core import protocol as p
from lab.core.fields import ConfigError
from lab.data.sequences import IGNORE
from lab.generate.decode import greedy
from lab.probes.attention_maps import attention_maps
from lab.train.trainer import Trainer

SAMPLE_ROWS = 6
CONTINUATION = 60  # tokens of a continuation of typed text


def is_token_model(trainer: Trainer | None) -> bool:
    return trainer is not None and hasattr(trainer.model, "attention_layers")


def encode(trainer: Trainer, text: str) -> torch.Tensor:
    """Typed text as token ids (1, T): each character a token (symbols have
    one-character names; spaces between symbols are skipped)."""
    names = trainer.data.class_names
    chars = text if trainer.config.data.text else text.replace(" ", "")
    unknown = sorted({c for c in chars if c not in names})
    if unknown:
        raise ConfigError(
            "sequence", f"{', '.join(repr(c) for c in unknown)} is no token of this task"
        )
    context = trainer.model.config.context
    ids = [names.index(c) for c in chars][-context:]
    if not ids:
        raise ConfigError("sequence", "type at least one token")
    return torch.tensor([ids], device=trainer.device)


def watched_input(trainer: Trainer, watch: p.WatchTokens) -> torch.Tensor:
    if watch.text.strip():
        return encode(trainer, watch.text)
    tests = trainer.x_test
    return tests[watch.example % len(tests)][None]


def attention(trainer: Trainer, watch: p.WatchTokens) -> p.AttentionMaps:
    tokens = watched_input(trainer, watch)
    names = trainer.data.class_names
    maps = attention_maps(trainer.model, tokens)
    return p.AttentionMaps(trainer.step_count, tuple(names[i] for i in tokens[0]), maps)


def samples(trainer: Trainer, watch: p.WatchTokens) -> p.Samples:
    """Test examples: the prompt is everything before the first answer token
    (before the second half of a text window), the model answers greedily."""
    names = trainer.data.class_names

    def named(ids: torch.Tensor) -> tuple[str, ...]:
        return tuple(names[i] for i in ids.tolist())

    first = watch.example % len(trainer.x_test)
    x = trainer.x_test[first : first + SAMPLE_ROWS]
    y = trainer.y_test[first : first + SAMPLE_ROWS]
    answered = (y[0] != IGNORE).nonzero()
    start = int(answered[0]) if len(answered) and answered[0] > 0 else x.shape[1] // 2
    expected = y[:, start:]
    text = trainer.config.data.text
    answer = 0 if text else expected.shape[1]  # running text has no answer that ends
    if watch.text.strip():
        prompt = encode(trainer, watch.text)
        room = trainer.model.config.context - prompt.shape[1]
        # a symbol task's answer has its length: the continuation stops where it ends
        got = greedy(trainer.model, prompt, max(0, min(answer or CONTINUATION, room)))
        row = p.SampleRow(named(prompt[0]), (), named(got[0]))
        return p.Samples(trainer.step_count, (row,), answer)
    got = greedy(trainer.model, x[:, : start + 1], expected.shape[1])
    rows = tuple(
        p.SampleRow(named(x[i, : start + 1]), named(expected[i]), named(got[i]))
        for i in range(len(x))
    )
    return p.Samples(trainer.step_count, rows, answer)
