"""Trainer step on a Transformer vs a hand-written nanoGPT-style model and loop
on the same config, data and thread count, in one run.

The model: the copy-transformer preset (2 pre-LayerNorm blocks, d_model 64,
4 heads, learned positions, GELU MLP x4, tied embeddings, context 16, batch
64). The hand loop is written here the way nanoGPT writes it: one qkv
projection, torch's scaled_dot_product_attention with is_causal, fused Adam
(the trainer's kernel), the warm-up + cosine learning rate set by hand each
step, cross-entropy over the answer positions, reading the loss.

Targets: the trainer's step (no evaluation, no probes) <= 10% slower than
the hand loop; all probes every 10 steps cost <= 5% more than no probes.
Rounds alternate between the loops so machine noise hits each alike.
"""

from __future__ import annotations

import argparse
import math

import torch
from common import interleaved_rates, median, median_ratio, verdict  # also sets sys.path
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name

from lab.core.presets import PRESETS
from lab.train.trainer import Trainer


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int, context: int, d: int, heads: int, layers: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def hand_loop(trainer: Trainer):
    config = trainer.config
    t, optim = config.model.transformer, config.optim
    torch.manual_seed(0)
    model = GPT(len(trainer.data.class_names), t.context, t.d_model, t.heads, t.layers)
    n_ours = sum(p.numel() for p in trainer.model.parameters())
    n_hand = sum(p.numel() for p in model.parameters())
    assert n_ours == n_hand, f"not the same model: {n_ours} vs {n_hand} parameters"
    optimizer = torch.optim.Adam(model.parameters(), lr=optim.lr, fused=True)
    x, y = trainer.x_train, trainer.y_train
    batch, total = config.data.batch_size, config.train.steps
    generator = torch.Generator().manual_seed(1)
    state = {"step": 0}

    def lr_at(step: int) -> float:
        if step < optim.warmup_steps:
            return optim.lr * (step + 1) / optim.warmup_steps
        progress = min(1.0, (step - optim.warmup_steps) / max(1, total - optim.warmup_steps))
        return optim.lr * 0.5 * (1 + math.cos(math.pi * progress))

    def run(steps: int) -> None:
        for _ in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(state["step"] % total)
            index = torch.randint(0, x.shape[0], (batch,), generator=generator)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x[index])
            loss = F.cross_entropy(logits.flatten(0, 1), y[index].flatten(), ignore_index=-100)
            loss.backward()
            optimizer.step()
            loss.item()
            state["step"] += 1

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="copy-transformer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = PRESETS[args.preset].with_changes({"train.threads": args.threads})
    bare = Trainer(base.with_changes({"train.eval_every": 10**9, "probes.enabled": False}))
    probed = Trainer(
        base.with_changes({"train.eval_every": 10**9, "probes.enabled": True, "probes.every": 10})
    )
    loops = {"hand": hand_loop(bare), "trainer": bare.run, "trainer_probes_10": probed.run}
    rates = interleaved_rates(loops, args.steps, args.rounds)
    rate = {name: median(r) for name, r in rates.items()}
    overhead = median_ratio(rates["hand"], rates["trainer"]) - 1
    probe_cost = median_ratio(rates["trainer"], rates["trainer_probes_10"]) - 1
    d = base.data
    print(
        f"threads {args.threads}, {args.preset}: {base.model.transformer.layers} blocks,"
        f" d_model {base.model.transformer.d_model}, batch {d.batch_size} x"
        f" {d.sequence_length} tokens, median of {args.rounds} rounds of {args.steps} steps"
    )
    labels = {
        "hand": "hand nanoGPT loop",
        "trainer": "Trainer, no probes",
        "trainer_probes_10": "Trainer, probes every 10",
    }
    for name, label in labels.items():
        print(f"{label:<26}: {rate[name]:7.0f} steps/s  {1e3 / rate[name]:.3f} ms/step")
    print(f"Trainer overhead vs the hand loop: {100 * overhead:+.1f}%")
    print(f"Probes every 10 steps cost: {100 * probe_cost:+.1f}%")
    figures = {name: round(value, 1) for name, value in rate.items()}
    figures |= {"overhead_vs_hand": round(overhead, 4), "probes_every_10": round(probe_cost, 4)}
    targets = {"overhead_max": 0.10, "probes_every_10_max": 0.05}
    verdict(figures, targets, overhead <= 0.10 and probe_cost <= 0.05)


if __name__ == "__main__":
    main()
