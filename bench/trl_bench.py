#!/usr/bin/env python3
"""Whole GRPO steps with TRL's GRPOTrainer on the CPU: the anchor of `r1lab bench --grpo`.

Both sides read the `grpo` workload of bench/configs.json: the shipped checkpoint (Hugging Face
layout, loaded here with `AutoModelForCausalLM`), G completions for each of the questions of a
step, at most `max_completion_length` new tokens at `temperature`, the k3 KL to a frozen reference
with weight beta, mu optimisation passes, AdamW at `lr`, gradient clip 1.0, GRPO's per-sequence
loss and group-std advantages. Prompts are arithmetic questions of data/tasks/arithmetic_test.jsonl
in the short R1-Zero template ("User: {q} Assistant: <think>"), the distribution r1lab's trainer
draws from; the rewards are accuracy (the <answer> equals the truth) and format, like r1lab's
R1-Zero rewards. TRL stops a completion at EOS; r1lab's trainer stops at `</answer>` or EOS (the
model writes EOS right after `</answer>` almost always). Lengths therefore differ a little, and
both sides report completion tokens per second of whole steps as well as seconds per step:
tokens/s is the fair ratio. The checkpoint path is relative to the current directory, as for
`r1lab bench --grpo`; run both from the repository root.

    bash scripts/setup_python.sh          # pinned torch, transformers, trl in .venv-py/
    .venv-py/bin/python bench/trl_bench.py --threads 2 --json bench/trl_results.json
    ./target/release/r1lab bench --grpo --json bench/r1lab_grpo.json
    python3 bench/compare.py --grpo bench/r1lab_grpo.json bench/trl_results.json
"""

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default=str(HERE / "configs.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args()

    keys = ["checkpoint", "group_size", "prompts_per_step", "max_completion_length", "temperature",
            "beta", "mu", "lr", "steps", "warmup"]
    try:
        work = json.load(open(args.configs))["grpo"]
        missing = [k for k in keys if k not in work]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as e:
        sys.exit(f"trl_bench: cannot read the grpo workload of {args.configs}: {e!r}; see bench/configs.json")
    if missing:
        sys.exit(f"trl_bench: the grpo workload of {args.configs} lacks {', '.join(missing)}; see bench/configs.json")
    if work["steps"] < 1 or work["group_size"] < 2 or work["prompts_per_step"] < 1:
        sys.exit("trl_bench: the grpo workload needs steps >= 1, group_size >= 2 and prompts_per_step >= 1")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch
        import trl
        import transformers
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:
        sys.exit(f"trl_bench: {e}; run `bash scripts/setup_python.sh` first")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ckpt = Path(work["checkpoint"])
    if not (ckpt / "config.json").exists():
        sys.exit(f"trl_bench: no checkpoint at {ckpt} (expected config.json there; the path is relative to the current directory: run from the repository root)")
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(ckpt / "tokenizer.json"),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    model = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32)

    rows = [json.loads(l) for l in open(ROOT / "data/tasks/arithmetic_test.jsonl")]
    data = Dataset.from_list(
        [{"prompt": f"User: {r['question']} Assistant: <think>", "truth": r["answer"]} for r in rows]
    )
    answer_re = re.compile(r"<answer>(.*?)</answer>", re.S)

    def accuracy(completions, truth, **_):
        out = []
        for c, t in zip(completions, truth):
            m = answer_re.search(c)
            out.append(1.0 if m and m.group(1).strip() == t else 0.0)
        return out

    def fmt(completions, **_):
        return [1.0 if re.fullmatch(r"(?s).*?</think>\s*<answer>.*?</answer>\s*", c) else 0.0 for c in completions]

    g, q = work["group_size"], work["prompts_per_step"]
    steps, warmup = work["steps"], work["warmup"]
    out_dir = tempfile.mkdtemp(prefix="trl_bench_")
    cfg = GRPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        per_device_train_batch_size=g * q,
        gradient_accumulation_steps=1,
        num_generations=g,
        max_completion_length=work["max_completion_length"],
        temperature=work["temperature"],
        top_p=1.0,
        beta=work["beta"],
        num_iterations=work["mu"],
        epsilon=0.2,
        loss_type="grpo",
        scale_rewards="group",
        learning_rate=work["lr"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=1.0,
        # TRL 1.16 turns activation checkpointing on by default, which recomputes the forward
        # pass in the backward to save memory; r1lab does not, so neither does this side.
        gradient_checkpointing=False,
        max_steps=warmup + steps,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
    )

    class Timer(TrainerCallback):
        def __init__(self):
            self.t0, self.times, self.lengths = None, [], []

        def on_step_begin(self, *_, **__):
            self.t0 = time.perf_counter()

        def on_step_end(self, *_, **__):
            self.times.append(time.perf_counter() - self.t0)

        def on_log(self, _args, _state, _control, logs=None, **__):
            if logs and "completions/mean_length" in logs:
                self.lengths.append(logs["completions/mean_length"])

    timer = Timer()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[accuracy, fmt],
        args=cfg,
        train_dataset=data,
        processing_class=tok,
        callbacks=[timer],
    )
    trainer.train()
    if len(timer.times) != warmup + steps or len(timer.lengths) != warmup + steps:
        sys.exit(f"trl_bench: expected {warmup + steps} steps, timed {len(timer.times)} and logged {len(timer.lengths)}")
    times, lengths = timer.times[warmup:], timer.lengths[warmup:]
    step_s = sum(times) / len(times)
    tokens_per_step = g * q * sum(lengths) / len(lengths)
    result = {
        "framework": "trl-grpotrainer",
        "trl": trl.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": args.threads,
        "attn_implementation": model.config._attn_implementation,
        "grpo": {
            "checkpoint": work["checkpoint"],
            "params": sum(p.numel() for p in model.parameters()),
            "group_size": g,
            "prompts_per_step": q,
            "max_completion_length": work["max_completion_length"],
            "steps": steps,
            "step_s": step_s,
            "completion_tokens_per_step": tokens_per_step,
            "completion_tokens_per_s": tokens_per_step / step_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    }
    print(
        f"TRL {trl.__version__} GRPO step (G {g} x {q} prompts, <= {work['max_completion_length']} tokens, "
        f"{args.threads} threads): {step_s:.2f} s/step | {tokens_per_step:.0f} completion tokens/step | "
        f"{tokens_per_step / step_s:.0f} completion tok/s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
