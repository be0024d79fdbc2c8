"""Decode speed with and without the KV cache, and against Hugging Face
transformers, in one run.

1. The lab's default Transformer (TransformerConfig's defaults: 2 blocks,
   d_model 64, 4 heads), with its context raised to 512: greedy decoding of
   one sequence from a 4-token prompt to 64, 256 and 512 tokens, with a
   static cache and by recomputing the whole prefix each token.
   Target: >= 3x the tokens/s with the cache at 512 tokens.
2. The same shapes Llama-style (RoPE, RMSNorm, SwiGLU; the lab's model has
   biases where Llama has none, 1-3% more weights) against transformers'
   ``LlamaForCausalLM`` (randomly initialised, nothing downloaded; SDPA
   attention) decoding with its ``DynamicCache``, both greedy from the same
   prompt to 512 tokens. Target: the lab >= 1.0x its tokens/s. Needs the
   ``bench`` extra (``pip install -e '.[bench]'``).

Rounds alternate between the loops so that machine noise hits each alike.
"""

from __future__ import annotations

import argparse
import inspect

import torch
from common import interleaved_rates, median, verdict  # also sets sys.path

from lab.core.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TransformerConfig,
)
from lab.generate.caches import CacheSpec, make_cache
from lab.generate.decode import generate
from lab.models import build_model
from lab.train.init import init_model

VOCAB = 128
PROMPT = 4


def lab_model(llama: bool) -> torch.nn.Module:
    style = {"positional": "rope", "norm": "rms", "ffn": "swiglu"} if llama else {}
    config = ExperimentConfig(
        model=ModelConfig(
            kind="transformer",
            norm_position="pre",
            transformer=TransformerConfig(context=512, **style),
        ),
        data=DataConfig(name="chars", seq_len=64),
    )
    torch.manual_seed(0)
    model = build_model(config.model, (64,), VOCAB)
    init_model(model, config)
    return model.eval()


def cached_decoder(model: torch.nn.Module, length: int):
    t = model.config
    spec = CacheSpec(t.layers, 1, t.kv_heads, t.d_model // t.heads, t.context)

    def run(prompt: torch.Tensor) -> torch.Tensor:
        return generate(model, prompt, length - PROMPT, cache=make_cache("static", spec))

    return run


def recompute_decoder(model: torch.nn.Module, length: int):
    return lambda prompt: generate(model, prompt, length - PROMPT)


def hf_decoder(lab: torch.nn.Module, length: int):
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

    t = lab.config
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=t.d_model,
        intermediate_size=t.ffn_width,
        num_hidden_layers=t.layers,
        num_attention_heads=t.heads,
        num_key_value_heads=t.kv_heads,
        max_position_embeddings=t.context,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    # transformers 5.x names the argument ``cache`` (``past_key_values`` before)
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    @torch.no_grad()
    def run(prompt: torch.Tensor) -> torch.Tensor:
        cache = DynamicCache()  # grown in place, one token at a time
        out = model(prompt, use_cache=True, **{name: cache})
        tokens = [prompt]
        for _ in range(length - PROMPT):
            token = out.logits[:, -1].argmax(dim=-1, keepdim=True)
            tokens.append(token)
            out = model(token, use_cache=True, **{name: cache})
        return torch.cat(tokens, dim=1)

    return run, sum(p.numel() for p in model.parameters())


def tokens_per_second(loops: dict, rounds: int, length: int) -> dict[str, float]:
    """Each decoder's tokens/s, in interleaved rounds (each call decodes
    ``length - PROMPT`` tokens: the "steps" of ``interleaved_rates``)."""
    prompt = torch.randint(0, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(1))
    calls = {name: (lambda _steps, run=run: run(prompt)) for name, run in loops.items()}
    rates = interleaved_rates(calls, length - PROMPT, rounds)
    return {name: median(r) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures: dict[str, float] = {}
    model = lab_model(llama=False)
    print(f"threads {args.threads}; lab default Transformer, context 512, batch 1, greedy")
    for length in (64, 256, 512):
        rate = tokens_per_second(
            {
                "cached": cached_decoder(model, length),
                "recompute": recompute_decoder(model, length),
            },
            args.rounds,
            length,
        )
        speedup = rate["cached"] / rate["recompute"]
        figures |= {
            f"cached_{length}": round(rate["cached"], 1),
            f"recompute_{length}": round(rate["recompute"], 1),
            f"speedup_{length}": round(speedup, 2),
        }
        print(
            f"to {length:>3} tokens: {rate['cached']:7.0f} tokens/s with the cache,"
            f" {rate['recompute']:7.0f} recomputing -> {speedup:.2f}x"
        )
    llama = lab_model(llama=True)
    passed = figures["speedup_512"] >= 3.0
    targets: dict[str, float] = {"speedup_512_min": 3.0}
    try:
        hf, hf_params = hf_decoder(llama, 512)
    except ImportError:
        print("transformers is not installed (pip install -e '.[bench]'): peer comparison skipped")
        figures["vs_transformers"] = float("nan")
        passed = False
    else:
        ours_params = sum(p.numel() for p in llama.parameters())
        rate = tokens_per_second({"lab": cached_decoder(llama, 512), "hf": hf}, args.rounds, 512)
        ratio = rate["lab"] / rate["hf"]
        print(
            f"Llama-style, to 512 tokens: lab {rate['lab']:.0f} tokens/s ({ours_params:,} weights),"
            f" transformers LlamaForCausalLM + DynamicCache {rate['hf']:.0f} ({hf_params:,})"
            f" -> {ratio:.2f}x"
        )
        figures |= {
            "lab_llama_512": round(rate["lab"], 1),
            "transformers_512": round(rate["hf"], 1),
            "vs_transformers": round(ratio, 3),
        }
        passed = passed and ratio >= 1.0
    targets["vs_transformers_min"] = 1.0
    verdict(figures, targets, passed)


if __name__ == "__main__":
    main()
