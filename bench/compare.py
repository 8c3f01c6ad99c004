#!/usr/bin/env python3
"""Prints r1lab's benchmark beside PyTorch eager's, with ratios (ours / theirs).

    ./target/release/r1lab bench --json bench/r1lab_results.json
    .venv-py/bin/python bench/torch_bench.py --json bench/torch_results.json
    python3 bench/compare.py bench/r1lab_results.json bench/torch_results.json
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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
