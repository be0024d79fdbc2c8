"""Recipes about the Transformer: attention scaling, warm-up for a
post-norm stack, and the KV cache's memory and speed."""

from __future__ import annotations

import numpy as np
import torch

from lab.core import protocol as p
from lab.core import wire
from lab.core.config import ExperimentConfig
from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.generate.measure import decode_steps
from lab.jobs import Progress
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import curve, final, log_slope, smoothed_loss, train
from lab.train.signal import signal_propagation
from lab.train.trainer import Trainer

# ------------------------------------------------------------ 13. attention scaling

_HEADS = 2


def _width(config: ExperimentConfig, d_k: int) -> ExperimentConfig:
    """``config`` with heads of width ``d_k``, and weights whose queries and
    keys start with unit variance (std 1/sqrt(d_model)), as a trained
    model's roughly have; GPT-2's 0.02 would hide the effect at init."""
    d_model = _HEADS * d_k
    return config.with_changes(
        {
            "model.transformer.d_model": d_model,
            "model.transformer.heads": _HEADS,
            "model.transformer.kv_heads": _HEADS,
            "init.std": d_model**-0.5,
        }
    )


def _scaling_arms(fast: bool) -> list[Arm]:
    widths = [4, 16, 64] if fast else [4, 8, 16, 32, 64, 128]
    base = preset("copy-transformer")
    return [
        Arm(
            label,
            _width(base, widths[-1]).with_changes({"model.transformer.scale_attention": scale}),
            {"d_k": widths},
        )
        for label, scale in (("scaled by 1/sqrt(d_k)", True), ("unscaled", False))
    ]


def _scaling_measure(arm: Arm, fast: bool) -> ArmSteps:
    """The scores' std and the attention's entropy at init, averaged over
    heads (the head probes' figures), for each head width."""
    widths = list(arm.options["d_k"])
    stds, entropies = [], []
    for i, d_k in enumerate(widths):
        snap = signal_propagation(_width(arm.config, d_k))
        stds.append(float(np.mean(snap.score_std)))
        entropies.append(float(np.mean(snap.attn_entropy)))
        yield Progress((i + 1) / len(widths), f"d_k = {d_k}")
    figures = arm_result(
        arm,
        series={"score std": (widths, stds), "entropy": (widths, entropies)},
        scalars={
            "score std slope": log_slope(widths, stds),
            "entropy at largest d_k": entropies[-1],
            "entropy at smallest d_k": entropies[0],
        },
    )
    return figures, None


def _scaling_verdict(v: Verdict) -> None:
    slope = v("unscaled", "score std slope")
    v.check(
        "without scaling the scores' std grows as sqrt(d_k)",
        0.35 <= slope <= 0.65,
        f"log-log slope of score std against d_k: {slope:.2f} (0.5 expected; 0.35-0.65)",
    )
    flat = v("scaled by 1/sqrt(d_k)", "score std slope")
    v.check(
        "with it the std stays put",
        abs(flat) <= 0.15,
        f"slope {flat:.2f} (within ±0.15)",
    )
    low = v("unscaled", "entropy at largest d_k")
    high = v("scaled by 1/sqrt(d_k)", "entropy at largest d_k")
    v.check(
        "and the unscaled softmax saturates: its entropy collapses",
        low < 0.5 * high,
        f"attention entropy at the largest d_k: {low:.2f} nats unscaled, {high:.2f} scaled"
        " (under half)",
    )


ATTENTION_SCALING = Recipe(
    RecipeInfo(
        "attention-scaling",
        "Attention scaling",
        "A dot product of two d_k-long vectors of unit-variance numbers has variance d_k;"
        " without the 1/sqrt(d_k) the scores grow with the head width and the softmax turns"
        " into a hard max.",
        "x is the head width d_k (log scale). The unscaled scores' std climbs as sqrt(d_k) (a"
        " slope of 1/2 on log axes) and the attention's entropy falls towards 0 (one key takes"
        " all the weight, and gradients to the others vanish); the scaled ones stay flat.",
        (
            Plot(
                "score std",
                "std of the attention scores (at init)",
                PlotKind.CURVE,
                "d_k",
                log_y=True,
            ),
            Plot("entropy", "attention entropy, nats (at init)", PlotKind.CURVE, "d_k"),
        ),
        ("Attention",),
    ),
    _scaling_arms,
    _scaling_measure,
    _scaling_verdict,
)


# ------------------------------------------------------------ 14. warm-up


def _warmup_arms(fast: bool) -> list[Arm]:
    steps = 150 if fast else 600
    warm = preset("post-norm-warmup")
    none = preset("post-norm-no-warmup")
    if fast:
        warm = warm.with_changes({"optim.warmup_steps": 60})
    options = {"steps": steps}
    return [
        Arm("post-norm, no warm-up", none, options),
        Arm("post-norm, warm-up", warm, options),
        Arm("pre-norm, no warm-up", none.with_changes({"model.norm_position": "pre"}), options),
    ]


def _warmup_measure(arm: Arm, fast: bool) -> ArmSteps:
    trainer = yield from train(arm.config, int(arm.options["steps"]))
    figures = arm_result(
        arm,
        series={"loss": smoothed_loss(trainer), "lr": curve(trainer, wire.STEP, "lr")},
        scalars={
            "test acc": final(trainer, "test_acc"),
            "train loss": final(trainer, "train_loss"),
        },
    )
    return figures, trainer


def _warmup_verdict(v: Verdict) -> None:
    stalled = v("post-norm, no warm-up", "test acc")
    v.check(
        "post-norm without warm-up stalls",
        stalled <= 0.2,
        f"test accuracy {stalled:.1%} (chance is 10%; <= 20%)",
    )
    warm = v("post-norm, warm-up", "test acc")
    v.check("warm-up saves it", warm >= 0.8, f"test accuracy {warm:.1%} (>= 80%)")
    pre = v("pre-norm, no warm-up", "test acc")
    v.check(
        "pre-norm trains without warm-up",
        pre >= 0.4,
        f"test accuracy {pre:.1%} (>= 40%, well above chance)",
    )


WARMUP = Recipe(
    RecipeInfo(
        "warmup",
        "Warm-up saves a post-norm Transformer",
        "Six post-norm blocks at learning rate 0.01: without warm-up the first large updates"
        " wreck them and they never recover; a warm-up, or moving the norms before the"
        " sub-layers, lets the same model train.",
        "Loss curves: the no-warm-up post-norm run drops to about ln 10 (guessing among ten"
        " digits) and stays there; with warm-up the learning rate (second plot) ramps up"
        " while the model settles, and it learns to sort. Pre-norm keeps an identity path"
        " through every block, so it trains at full learning rate from step one.",
        (
            Plot(
                "loss",
                "training loss (running mean of 20 steps)",
                PlotKind.CURVE,
                "step",
                log_y=True,
            ),
            Plot("lr", "learning rate", PlotKind.CURVE, "step"),
            Plot("test acc", "test accuracy", PlotKind.BARS),
        ),
        ("Loss", "Attention"),
    ),
    _warmup_arms,
    _warmup_measure,
    _warmup_verdict,
)


# ------------------------------------------------------------ 15. KV cache


def _kv_arms(fast: bool) -> list[Arm]:
    context = 128 if fast else 512
    base = preset("copy-transformer").with_changes(
        {"model.transformer.context": context, "model.transformer.heads": 4}
    )
    return [
        Arm(label, base.with_changes({"model.transformer.kv_heads": kv}), {"tokens": context})
        for label, kv in (("MHA, 4 KV heads", 4), ("GQA, 2 KV heads", 2), ("MQA, 1 KV head", 1))
    ]


def _kv_measure(arm: Arm, fast: bool) -> ArmSteps:
    """A measured decode (``lab.generate.measure``, what the KV cache view
    runs) with a growing cache: bytes held after each token, and each token's
    time with the cache and by recomputing the prefix."""
    trainer = Trainer(arm.config)  # untrained: memory and time do not depend on the weights
    model = trainer.model
    request = p.DecodeKV(job=0, layout="concat", tokens=int(arm.options["tokens"]))
    with torch.no_grad():
        decode = yield from decode_steps(model, request, trainer.device)
    lengths = decode.lengths.astype(float)
    held = decode.held.sum(axis=1).astype(float)
    fit = np.polyfit(lengths, held, 1)
    residual = held - np.polyval(fit, lengths)
    tail = max(1, len(lengths) // 10)  # the last tenth: the longest prefixes
    cached = float(np.median(decode.seconds_cached[-tail:]))
    full = float(np.median(decode.seconds_full[-tail:]))
    t = arm.config.model.transformer
    bytes_per_token = 2 * t.layers * t.kv_heads * (t.d_model // t.heads) * 4
    figures = arm_result(
        arm,
        series={
            "held": (lengths.tolist(), (held / 1024).tolist()),
            "tokens/s": (lengths.tolist(), _running_median(1 / decode.seconds_cached)),
            "tokens/s without cache": (lengths.tolist(), _running_median(1 / decode.seconds_full)),
        },
        scalars={
            "bytes per token": float(fit[0]),
            "formula bytes per token": float(bytes_per_token),
            "largest gap to formula": float(np.abs(held - decode.formula).max()),
            "nonlinearity": float(np.abs(residual).max() / held.max()),
            "cache speed-up": full / cached,
            "tokens/s cached": 1 / cached,
            "tokens/s full": 1 / full,
        },
    )
    return figures, None


def _running_median(values: np.ndarray, window: int = 9) -> list[float]:
    """Each step's figure as the median of the ``window`` around it: one
    step's time jitters with whatever else the machine does."""
    half = window // 2
    return [float(np.median(values[max(0, i - half) : i + half + 1])) for i in range(len(values))]


def _kv_verdict(v: Verdict) -> None:
    arms = list(v.arms)
    for label in arms:
        slope, formula = v(label, "bytes per token"), v(label, "formula bytes per token")
        gap, bend = v(label, "largest gap to formula"), v(label, "nonlinearity")
        v.check(
            f"{label}: memory grows linearly, as the formula says",
            bend < 1e-6 and gap == 0 and abs(slope - formula) < 1e-6 * formula,
            f"{slope:.0f} bytes per token measured, {formula:.0f} by 2 x layers x KV heads x"
            f" head dim x 4 bytes; largest gap to the formula {gap:.0f} bytes",
        )
    mha = v(arms[0], "bytes per token")
    gqa, mqa = v(arms[1], "bytes per token"), v(arms[2], "bytes per token")
    v.check(
        "GQA and MQA divide the cache by the head-sharing factor",
        abs(mha / gqa - 2) < 1e-9 and abs(mha / mqa - 4) < 1e-9,
        f"MHA / GQA = {mha / gqa:.3f} (2 query heads per KV head), MHA / MQA = {mha / mqa:.3f} (4)",
    )
    speed = v(arms[0], "cache speed-up")
    v.check(
        "the cache makes long decodes faster",
        speed >= 1.5,
        f"at the longest prefixes a token takes {speed:.1f}x longer without the cache (>= 1.5x)",
    )


KV_CACHE = Recipe(
    RecipeInfo(
        "kv-cache",
        "KV cache: linear memory, shared heads, faster decoding",
        "A KV cache keeps every past token's keys and values: memory grows linearly with"
        " length, grouped-query and multi-query attention divide it by how many query heads"
        " share a KV head, and decoding no longer recomputes the whole prefix.",
        "Bytes held (measured from the cache's own tensors) rise in straight lines whose"
        " slopes stand 4 : 2 : 1; the formula is exact. Tokens per second: with the cache"
        " each step costs about the same; without it every step reprocesses the prefix, so"
        " it slows as the text grows.",
        (
            Plot("held", "KiB held by the cache", PlotKind.CURVE, "tokens"),
            Plot(
                "tokens/s",
                "tokens/s with the cache (running median of 9)",
                PlotKind.CURVE,
                "tokens",
            ),
            Plot(
                "tokens/s without cache",
                "tokens/s recomputing the prefix (running median of 9)",
                PlotKind.CURVE,
                "tokens",
            ),
            Plot("bytes per token", "bytes per token", PlotKind.BARS),
        ),
        ("KV cache",),
    ),
    _kv_arms,
    _kv_measure,
    _kv_verdict,
    parallel=False,  # its arms time decoding: side by side they would time each other
)
