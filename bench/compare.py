#!/usr/bin/env python3
"""Prints r1lab's benchmark beside PyTorch eager's, with ratios (ours / theirs).

    ./target/release/r1lab bench --json bench/r1lab_results.json
    .venv-py/bin/python bench/torch_bench.py --json bench/torch_results.json
    python3 bench/compare.py bench/r1lab_results.json bench/torch_results.json

and whole GRPO steps beside TRL's GRPOTrainer:

    ./target/release/r1lab bench --grpo --json bench/r1lab_grpo.json
    .venv-py/bin/python bench/trl_bench.py --json bench/trl_results.json
    python3 bench/compare.py --grpo bench/r1lab_grpo.json bench/trl_results.json
"""
import json
import sys


def main(ours_path: str, theirs_path: str) -> None:
    ours = {r["size"]: r for r in json.load(open(ours_path))["results"]}
    theirs_doc = json.load(open(theirs_path))
    theirs = {}
    for r in theirs_doc["results"]:
        theirs.setdefault(r["size"], r)  # first attention implementation listed (eager)
    print(f"threads: ours {json.load(open(ours_path)).get('threads')}, PyTorch {theirs_doc.get('threads')}"
          f" (torch {theirs_doc.get('torch')})\n")
    print("| size | params | measure | r1lab (candle) | PyTorch eager | ratio |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("training step, tokens/s", "train_tokens_per_s", "train_tokens_per_s"),
        ("KV-cached sampling, new tokens/s", "sample_tokens_per_s", "sample_tokens_per_s"),
        ("sampling vs HF generate, new tokens/s", "sample_tokens_per_s", "hf_generate_tokens_per_s"),
        ("peak RSS, MiB (lower is better)", "peak_rss_mb", "peak_rss_mb"),
    ]
    for size in ours:
        if size not in theirs:
            continue
        for label, ok, tk in rows:
            a, b = ours[size].get(ok), theirs[size].get(tk)
            if a is None or b is None:
                continue
            ratio = a / b if b else float("nan")
            print(f"| {size} | {ours[size]['params']:,} | {label} | {a:,.0f} | {b:,.0f} | {ratio:.2f}× |")


def main_grpo(ours_path: str, theirs_path: str) -> None:
    ours_doc, theirs_doc = json.load(open(ours_path)), json.load(open(theirs_path))
    ours, theirs = ours_doc["grpo"], theirs_doc["grpo"]
    for key in ("checkpoint", "group_size", "prompts_per_step", "max_completion_length", "steps"):
        if ours.get(key) != theirs.get(key):
            print(f"WARNING: not the same workload: {key} {ours.get(key)} (ours) vs {theirs.get(key)} (TRL)")
    if ours_doc.get("threads") != theirs_doc.get("threads"):
        print(f"WARNING: not the same threads: {ours_doc.get('threads')} (ours) vs {theirs_doc.get('threads')} (TRL)")
    print(f"threads: ours {ours_doc.get('threads')}, TRL {theirs_doc.get('threads')}"
          f" (trl {theirs_doc.get('trl')}, torch {theirs_doc.get('torch')}, {theirs_doc.get('attn_implementation')} attention)\n")
    print(f"Workload: {ours['checkpoint']}, G {ours['group_size']} x {ours['prompts_per_step']} questions, "
          f"at most {ours['max_completion_length']} completion tokens, {ours['steps']} timed steps each.\n")
    print("| measure | r1lab (candle) | TRL GRPOTrainer | ratio (ours / theirs) |")
    print("|---|---|---|---|")
    rows = [
        ("seconds per GRPO step (lower is better)", "step_s", "{:.2f}"),
        ("completion tokens per step", "completion_tokens_per_step", "{:,.0f}"),
        ("completion tokens/s of whole steps", "completion_tokens_per_s", "{:,.0f}"),
        ("peak RSS, MiB (lower is better)", "peak_rss_mb", "{:,.0f}"),
    ]
    for label, key, f in rows:
        a, b = ours[key], theirs[key]
        ratio = a / b if b else float("nan")
        print(f"| {label} | {f.format(a)} | {f.format(b)} | {ratio:.2f}× |")
    speed = theirs["step_s"] / ours["step_s"] if ours["step_s"] else float("nan")
    print(f"\nr1lab's step is {speed:.2f}× as fast as TRL's (time per step); per completion token "
          f"{ours['completion_tokens_per_s'] / theirs['completion_tokens_per_s']:.2f}×.")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--grpo":
        main_grpo(args[1], args[2])
    elif len(args) == 2:
        main(args[0], args[1])
    else:
        sys.exit(__doc__)
