#!/usr/bin/env python3
"""PyTorch-eager side of the r1lab benchmark: the same model shapes and workloads as `r1lab bench`,
read from bench/configs.json, run with Hugging Face transformers' Qwen2ForCausalLM on the CPU.

    bash scripts/setup_python.sh
    .venv-py/bin/python bench/torch_bench.py --sizes 1M,10M --threads 2 --json bench/torch_results.json

For each size (and attention implementation, default eager) it measures, in float32 on the CPU:

  train_tokens_per_s        forward with labels over random tokens [batch, seq_len] (no padding),
                            backward, torch.optim.AdamW step; batch*seq_len*steps / time, timed
                            over `steps` after `warmup` steps.
  sample_tokens_per_s       a hand-written KV-cache sampling loop under torch.inference_mode():
                            prompt of prompt_len random tokens per row, then new_tokens tokens
                            drawn by multinomial sampling at temperature 1 (no top-k/top-p);
                            batch*new_tokens / time, time including the prefill.
  hf_generate_tokens_per_s  model.generate(do_sample=True, max_new_tokens=min_new_tokens=new_tokens,
                            top_k=0, top_p=1.0, temperature=1.0) on the same prompts.
  peak_rss_mb               peak resident set size of the process that ran this size.
  others_cpu_share          share of all cores that other processes used while this size ran
                            (from /proc/stat): above a few percent, something else (a cargo build)
                            competed for the cores and the numbers are low; rerun when idle.

Each size runs in a child process of its own, so peak RSS is per size. One untimed warmup
(prefill plus 2 steps) precedes each of the two sampling measurements.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIGS = HERE / "configs.json"


def load_configs(path: Path) -> dict:
    return json.loads(path.read_text())


def build_model(cfg: dict, size: str, attn: str):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    fields = dict(cfg["common"])
    fields.update(cfg["sizes"][size])
    fields.pop("model_type", None)
    config = Qwen2Config(**fields, use_cache=True, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    model = Qwen2ForCausalLM._from_config(config, attn_implementation=attn, dtype=torch.float32)
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied embeddings counted once


def bench_train(model, cfg: dict, size: str) -> float:
    import torch

    t = cfg["train"][size]
    o = cfg["optimizer"]
    vocab = model.config.vocab_size
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                            weight_decay=o["weight_decay"])
    model.train()

    def step():
        ids = torch.randint(0, vocab, (t["batch"], t["seq_len"]))
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(t["warmup"]):
        step()
    start = time.perf_counter()
    for _ in range(t["steps"]):
        step()
    elapsed = time.perf_counter() - start
    del opt
    model.zero_grad(set_to_none=True)
    return t["batch"] * t["seq_len"] * t["steps"] / elapsed


def sample_loop(model, prompt, new_tokens: int):
    """Prefill, then new_tokens multinomial draws at temperature 1, feeding back one token a step."""
    import torch

    out = model(input_ids=prompt, use_cache=True)
    cache = out.cache
    logits = out.logits[:, -1, :]
    tokens = []
    for i in range(new_tokens):
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1)
        tokens.append(nxt)
        if i + 1 == new_tokens:
            break
        out = model(input_ids=nxt, cache=cache, use_cache=True)
        cache = out.cache
        logits = out.logits[:, -1, :]
    return torch.cat(tokens, dim=1)


def bench_sample(model, prompt, new_tokens: int) -> float:
    import torch

    model.eval()
    with torch.inference_mode():
        sample_loop(model, prompt, 2)  # warmup
        start = time.perf_counter()
        out = sample_loop(model, prompt, new_tokens)
        elapsed = time.perf_counter() - start
    assert out.shape == (prompt.shape[0], new_tokens)
    return prompt.shape[0] * new_tokens / elapsed


def bench_generate(model, prompt, new_tokens: int) -> float:
    import torch

    model.eval()
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=0,
              attention_mask=torch.ones_like(prompt))
    with torch.inference_mode():
        model.generate(prompt, max_new_tokens=2, min_new_tokens=2, **kw)  # warmup
        start = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kw)
        elapsed = time.perf_counter() - start
    assert out.shape == (prompt.shape[0], prompt.shape[1] + new_tokens), out.shape
    return prompt.shape[0] * new_tokens / elapsed


def busy_cpu_s() -> float:
    """CPU seconds spent busy by the whole machine since boot (all processes, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(cfg: dict, size: str, attn: str, threads: int) -> dict:
    import torch

    wall0, busy0, own0 = time.perf_counter(), busy_cpu_s(), own_cpu_s()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(cfg, size, attn)
    s = cfg["sample"][size]
    result = {"size": size, "attn_implementation": attn, "params": n_params(model)}
    result["train_tokens_per_s"] = bench_train(model, cfg, size)
    prompt = torch.randint(0, model.config.vocab_size, (s["batch"], s["prompt_len"]))
    result["sample_tokens_per_s"] = bench_sample(model, prompt, s["new_tokens"])
    result["hf_generate_tokens_per_s"] = bench_generate(model, prompt, s["new_tokens"])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    wall = time.perf_counter() - wall0
    others = max(0.0, (busy_cpu_s() - busy0) - (own_cpu_s() - own0))
    # Share of the machine's cores that other processes used while this size ran: on a small
    # shared machine anything above a few percent makes the numbers low; rerun when idle.
    result["others_cpu_share"] = others / (wall * (os.cpu_count() or 1))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=Path, default=DEFAULT_CONFIGS)
    ap.add_argument("--sizes", default="1M,10M,100M", help="comma-separated keys of configs.json 'sizes'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attn", default="eager", help="comma-separated: eager, sdpa")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--child", nargs=2, metavar=("SIZE", "ATTN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    cfg = load_configs(args.configs)

    if args.child:
        print(json.dumps(run_one(cfg, args.child[0], args.child[1], args.threads)))
        return 0

    import torch

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    attns = [a.strip() for a in args.attn.split(",") if a.strip()]
    for s in sizes:
        if s not in cfg["sizes"]:
            ap.error(f"unknown size {s!r}; configs.json has {', '.join(cfg['sizes'])}")
    results = []
    for size in sizes:
        for attn in attns:
            t0 = time.perf_counter()
            cmd = [sys.executable, __file__, "--configs", str(args.configs), "--threads", str(args.threads),
                   "--child", size, attn]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            print(f"# {size} {attn}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    header = f"{'size':>5} {'attn':>6} {'params':>11} {'train tok/s':>12} {'sample tok/s':>13} " \
             f"{'generate tok/s':>15} {'peak RSS MB':>12} {'others CPU':>10}"
    print(f"pytorch-eager, torch {torch.__version__}, {args.threads} threads, float32 CPU")
    print(header)
    for r in results:
        print(f"{r['size']:>5} {r['attn_implementation']:>6} {r['params']:>11,} {r['train_tokens_per_s']:>12.1f} "
              f"{r['sample_tokens_per_s']:>13.1f} {r['hf_generate_tokens_per_s']:>15.1f} {r['peak_rss_mb']:>12.0f} {r['others_cpu_share']:>10.1%}")
    if any(r["others_cpu_share"] > 0.05 for r in results):
        print("warning: other processes used more than 5% of the cores during a run (others CPU column); "
              "those numbers are low. Rerun on an idle machine.", file=sys.stderr)
    if args.json:
        import platform

        import transformers

        doc = {
            "framework": "pytorch-eager",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": args.threads,
            "dtype": "float32",
            "device": "cpu",
            "cpu": platform.processor() or platform.machine(),
            "results": results,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
