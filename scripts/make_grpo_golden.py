#!/usr/bin/env python3
"""Golden values for the GRPO loss, its gradient and the group-relative advantages.

    bash scripts/setup_python.sh
    .venv-py/bin/python scripts/make_grpo_golden.py                  # writes tests/fixtures/grpo_golden.json
    .venv-py/bin/python scripts/make_grpo_golden.py --trl-src DIR    # same, and cross-check against TRL's code

The values are computed by an independent float64 PyTorch implementation (below), the gradient
d loss / d logp by autograd. Output is deterministic (seeded torch.Generator per case; inputs rounded to
4 decimals so the JSON is short and an f32 reader sees nearly the same numbers).

--trl-src DIR is optional: DIR is an unpacked TRL 1.16.0 wheel (holding trl/trainer/grpo_trainer.py and
trl/trainer/utils.py), e.g.

    pip download trl==1.16.0 --no-deps -d /tmp/trl && unzip -q /tmp/trl/trl-1.16.0-py3-none-any.whl -d /tmp/trl/src
    .venv-py/bin/python scripts/make_grpo_golden.py --trl-src /tmp/trl/src

Nothing is installed or imported from trl (it would pull in accelerate, datasets, pandas, pyarrow): the
source of `GRPOTrainer._compute_loss`, of the reward -> advantage block of
`GRPOTrainer._generate_and_score_completions` and of `nanstd` / `nanmin` / `nanmax` is cut out with `ast`
and run as is on float64 tensors, with a stub `self` (1 process, no gradient accumulation, train mode, no
vLLM, no entropy masking or bonus, token-level importance sampling, delta = None). The script then checks
that every golden value agrees with TRL's to 1e-12 and fails otherwise. It does not change the output file.

Formulas, as read in TRL 1.16.0 (trl/trainer/grpo_trainer.py, GRPOTrainer._compute_loss and the advantage
code in _generate_and_score_completions; defaults from trl/trainer/grpo_config.py), and how they differ from
the brief this fixture was written against:

  ratio   r = exp(logp - old_logp)                      (importance_sampling_level="token", the default)
  coef2   = clamp(r, 1 - epsilon, 1 + epsilon_high)     (epsilon_high defaults to epsilon)
  policy  = -min(r * A, coef2 * A)                      (same as the brief; `delta` two-sided clip off by default)
  k3      = exp(ref - logp) - (ref - logp) - 1
  per_token_loss = policy + beta * KL                   (KL added after the min, only when beta != 0: same)

  DIFFERENCE 1 - the KL term. GRPOConfig.use_bias_correction_kl defaults to True in TRL 1.16.0, and then
    KL = k3 * r   (r = exp(logp - old_logp), NOT detached: it is differentiated through)
  (DeepSeek-V3.2's unbiased reverse-KL gradient). The brief's per-token term beta * k3 is TRL with
  use_bias_correction_kl=False. Per-token gradient of the KL part:
    plain k3:        d/dlogp [beta * k3]     = beta * (1 - exp(ref - logp))
    bias-corrected:  d/dlogp [beta * k3 * r] = beta * r * (k3 + 1 - exp(ref - logp))
  Each loss case says which one it uses in "kl_bias_correction" (true = TRL's default). With beta = 0 the flag
  changes nothing in loss / grad_logp.

  Aggregation (mask = completion_mask; no tool_mask here):
    "grpo":    mean_i( sum_t l*mask / clamp(sum_t mask, min=1) )                       same as the brief
    "dr_grpo": sum_{i,t} l*mask / (B * max_completion_length)                          same as the brief
               (B = per_token_loss.size(0), the local batch)
    "dapo":    sum_{i,t} l*mask / normalizer, normalizer = num_items_in_batch.clamp(min=1) / num_processes
               * gradient_accumulation_steps / steps_per_generation (train mode), where num_items_in_batch is
               the number of mask tokens in the whole generation batch gathered over all processes.
  DIFFERENCE 2 - "dapo" normalises by the token count of the whole generation batch (all processes, all
    accumulation micro-batches), not of the micro-batch the loss sees. For one process with the batch in one
    piece (the setting of this fixture and of r1lab) that is sum(mask), i.e. the brief's formula. TRL's
    loss_type="bnpo" is the brief's formula on the local micro-batch: sum l*mask / clamp(sum mask, min=1).
  DIFFERENCE 3 - "grpo", "bnpo" and "dr_grpo" are divided by current_gradient_accumulation_steps in training
    (dapo's normaliser already holds it). 1 here, so no effect.
  Other loss types in TRL 1.16.0 (not covered): bnpo, cispo, sapo, luspo, vespo. Default loss_type is "dapo",
  default beta 0.0, epsilon 0.2, scale_rewards "group".

  Metrics: clip_ratio/low_mean = masked mean of (r < 1 - epsilon_low) & (A < 0), clip_ratio/high_mean = masked
  mean of (r > 1 + epsilon_high) & (A > 0), both over all real tokens of the batch, sum / clamp(count, min=1):
  same as the brief. DIFFERENCE 4 - TRL logs "kl" only when beta != 0, and it is the masked mean of the KL term
  as it enters the loss, i.e. of k3 * r with the bias correction. So each case carries
    "kl":     masked mean of plain k3 (the brief's metric, computed also for beta = 0), and
    "kl_trl": what TRL logs: masked mean of the loss's KL term (k3 * r if kl_bias_correction), null if beta = 0.

  Advantages (multi_objective_aggregation="sum_then_normalize", the default, one reward function):
    A = r - mean(group); "group": / (std(group) + 1e-4); "batch": / (std(all rewards) + 1e-4); "none": as is.
    std is TRL's nanstd, Bessel-corrected (ddof = 1); the mean subtracted is always the group mean, also for
    "batch". Same as the brief. (scale_rewards=True / False are aliases of "group" / "none".)
"""

import argparse
import ast
import json
import math
import platform
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "grpo_golden.json"

B, T, MAX_COMPLETION_LENGTH = 4, 6, 8
STD_EPS = 1e-4
# Every ratio must be this far from a clip boundary, so an f32 reimplementation takes the same branch.
BOUNDARY_MARGIN = 2e-3

# (name, loss_type, eps_low, eps_high, beta, kl_bias_correction, seed, row lengths)
LOSS_CASES = [
    ("grpo_beta0", "grpo", 0.2, 0.2, 0.0, True, 201, [6, 4, 5, 2]),
    ("grpo_beta0.04_clip_higher", "grpo", 0.2, 0.28, 0.04, True, 102, [3, 6, 6, 5]),
    ("dapo_beta0_clip_higher", "dapo", 0.2, 0.28, 0.0, True, 203, [5, 2, 6, 4]),
    ("dapo_beta0.04", "dapo", 0.2, 0.2, 0.04, True, 4, [6, 6, 3, 4]),
    ("dr_grpo_beta0", "dr_grpo", 0.2, 0.2, 0.0, True, 105, [4, 6, 2, 6]),
    ("dr_grpo_beta0.04_clip_higher", "dr_grpo", 0.2, 0.28, 0.04, True, 6, [6, 5, 4, 3]),
    # The brief's KL (TRL with use_bias_correction_kl=False): same inputs as the three beta = 0.04 cases above.
    ("grpo_beta0.04_clip_higher_plain_kl", "grpo", 0.2, 0.28, 0.04, False, 102, [3, 6, 6, 5]),
    ("dapo_beta0.04_plain_kl", "dapo", 0.2, 0.2, 0.04, False, 4, [6, 6, 3, 4]),
    ("dr_grpo_beta0.04_clip_higher_plain_kl", "dr_grpo", 0.2, 0.28, 0.04, False, 6, [6, 5, 4, 3]),
    # A row with no real token: "grpo" divides its (zero) sum by clamp(0, min=1) = 1.
    ("grpo_beta0.04_empty_row", "grpo", 0.2, 0.2, 0.04, True, 307, [5, 0, 6, 3]),
    ("grpo_beta0.04_empty_row_plain_kl", "grpo", 0.2, 0.2, 0.04, False, 307, [5, 0, 6, 3]),
]

# Rule-based rewards (accuracy 1 + format 0.5 style); the second group is all equal.
REWARDS = [1.5, 0.0, 0.5, 1.5, 1.0, 1.0, 1.0, 1.0]
GROUP_SIZE = 4
ADVANTAGE_CASES = [("adv_group", "group"), ("adv_batch", "batch"), ("adv_none", "none")]


def r4(t):
    """Round to 4 decimals as Python floats (shortest repr is then the 4-decimal value)."""
    return [[round(float(v), 4) for v in row] for row in t.tolist()] if t.dim() == 2 else [round(float(v), 4) for v in t.tolist()]


def make_inputs(seed, lengths):
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    logp = -(0.05 + 2.5 * torch.rand(B, T, generator=g, dtype=f64))
    # Log-probs stay <= -0.01 (a probability below 1).
    old_logp = (logp + 0.3 * torch.randn(B, T, generator=g, dtype=f64)).clamp(max=-0.01)
    ref_logp = (logp + 0.3 * torch.randn(B, T, generator=g, dtype=f64)).clamp(max=-0.01)
    mag = 0.3 + 1.2 * torch.rand(B, generator=g, dtype=f64)
    advantages = mag * torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=f64)
    mask = torch.zeros(B, T, dtype=f64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
    return dict(
        logp=torch.tensor(r4(logp), dtype=f64),
        old_logp=torch.tensor(r4(old_logp), dtype=f64),
        ref_logp=torch.tensor(r4(ref_logp), dtype=f64),
        advantages=torch.tensor(r4(advantages), dtype=f64),
        mask=mask,
    )


def reference_loss(x, loss_type, eps_low, eps_high, beta, kl_bias_correction, max_len):
    """Independent float64 implementation; returns loss, grad, metrics."""
    logp = x["logp"].clone().requires_grad_(True)
    old, ref, adv, mask = x["old_logp"], x["ref_logp"], x["advantages"][:, None], x["mask"]
    ratio = torch.exp(logp - old)
    coef2 = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    per_token = -torch.min(ratio * adv, coef2 * adv)
    k3 = torch.exp(ref - logp) - (ref - logp) - 1
    kl_term = k3 * ratio if kl_bias_correction else k3
    if beta != 0.0:
        per_token = per_token + beta * kl_term
    masked = per_token * mask
    if loss_type == "grpo":
        loss = (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "dapo":
        loss = masked.sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = masked.sum() / (per_token.size(0) * max_len)
    else:
        raise ValueError(loss_type)
    (grad,) = torch.autograd.grad(loss, logp)

    n = mask.sum().clamp(min=1.0)
    r = ratio.detach()
    low = ((r < 1 - eps_low) & (adv < 0)).double()
    high = ((r > 1 + eps_high) & (adv > 0)).double()
    return dict(
        loss=loss.item(),
        grad_logp=grad,
        clip_low=((low * mask).sum() / n).item(),
        clip_high=((high * mask).sum() / n).item(),
        kl=((k3.detach() * mask).sum() / n).item(),
        kl_trl=((kl_term.detach() * mask).sum() / n).item() if beta != 0.0 else None,
        ratio=r,
    )


def reference_advantages(rewards, group_size, scale):
    r = torch.tensor(rewards, dtype=torch.float64)
    grouped = r.view(-1, group_size)
    mean = grouped.mean(1, keepdim=True)
    a = grouped - mean
    if scale == "group":
        a = a / (grouped.std(1, unbiased=True, keepdim=True) + STD_EPS)
    elif scale == "batch":
        a = a / (r.std(unbiased=True) + STD_EPS)
    elif scale != "none":
        raise ValueError(scale)
    return a.reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# Optional cross-check against TRL's own source code.


def _function_source(tree, src, name, cls=None):
    scope = tree.body
    if cls is not None:
        scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name)
    return node


def load_trl(trl_src):
    trainer_dir = Path(trl_src) / "trl" / "trainer"
    utils_src = (trainer_dir / "utils.py").read_text()
    grpo_src = (trainer_dir / "grpo_trainer.py").read_text()
    utils_tree, grpo_tree = ast.parse(utils_src), ast.parse(grpo_src)

    ns = {"torch": torch}
    for fname in ("nanstd", "nanmin", "nanmax"):
        node = _function_source(utils_tree, utils_src, fname)
        exec(compile(ast.Module(body=[node], type_ignores=[]), f"trl/trainer/utils.py:{fname}", "exec"), ns)

    node = _function_source(grpo_tree, grpo_src, "_compute_loss", cls="GRPOTrainer")
    exec(compile(ast.Module(body=[node], type_ignores=[]), "trl/trainer/grpo_trainer.py:_compute_loss", "exec"), ns)
    compute_loss = ns["_compute_loss"]

    # The `if self.multi_objective_aggregation == "sum_then_normalize":` block that turns rewards into advantages.
    gen = _function_source(grpo_tree, grpo_src, "_generate_and_score_completions", cls="GRPOTrainer")
    block = None
    for n in ast.walk(gen):
        if (
            isinstance(n, ast.If)
            and isinstance(n.test, ast.Compare)
            and isinstance(n.test.left, ast.Attribute)
            and n.test.left.attr == "multi_objective_aggregation"
            and isinstance(n.test.comparators[0], ast.Constant)
            and n.test.comparators[0].value == "sum_then_normalize"
        ):
            block = compile(ast.Module(body=n.body, type_ignores=[]), "trl/trainer/grpo_trainer.py:advantages", "exec")
            break
    if block is None:
        raise RuntimeError("advantage block not found in TRL source")
    return ns, compute_loss, block


class _Accel:
    num_processes = 1

    def reduce(self, x, reduction="sum"):
        return x

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x


def trl_loss(compute_loss, x, loss_type, eps_low, eps_high, beta, kl_bias_correction, max_len):
    logp = x["logp"].clone().requires_grad_(True)
    mask = x["mask"]
    stub = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        aux_loss_enabled=False,
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level="token",
        beta=beta,
        loss_type=loss_type,
        epsilon_low=eps_low,
        epsilon_high=eps_high,
        args=SimpleNamespace(use_bias_correction_kl=kl_bias_correction, delta=None, steps_per_generation=1),
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1,
        max_completion_length=max_len,
        accelerator=_Accel(),
        _entropy_bonus_enabled=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
        "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask.long(),
        "advantages": x["advantages"],
        "old_per_token_logps": x["old_logp"],
        "ref_per_token_logps": x["ref_logp"],
        "num_items_in_batch": mask.sum(),
    }
    # TRL multiplies by the integer completion_mask; use the float mask so everything stays float64.
    inputs["completion_mask"] = mask
    loss = compute_loss(stub, None, inputs)
    (grad,) = torch.autograd.grad(loss, logp)
    m = stub._metrics["train"]
    return dict(
        loss=loss.item(),
        grad_logp=grad,
        clip_low=m["clip_ratio/low_mean"][0],
        clip_high=m["clip_ratio/high_mean"][0],
        kl_trl=m["kl"][0] if beta != 0.0 else None,
        logs_kl=("kl" in m),
    )


def trl_advantages(ns, block, rewards, group_size, scale):
    r = torch.tensor(rewards, dtype=torch.float64)
    local = dict(ns)
    local.update(
        self=SimpleNamespace(reward_weights=torch.tensor([1.0], dtype=torch.float64), scale_rewards=scale),
        rewards_per_func=r[:, None],
        device="cpu",
        unscorable_mask=torch.zeros(len(rewards), dtype=torch.bool),
        num_generations=group_size,
    )
    exec(block, local)
    return torch.nan_to_num(local["advantages"], nan=0.0)


# ---------------------------------------------------------------------------------------------------------
# JSON writer: 1-D / 2-D number lists on one line each.


def dump(obj, indent=0):
    pad, pad1 = "  " * indent, "  " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad1}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
        if all(isinstance(v, list) and all(not isinstance(w, (dict, list)) for w in v) for v in obj):
            return "[\n" + ",\n".join(pad1 + dump(v) for v in obj) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad1 + dump(v, indent + 1) for v in obj) + "\n" + pad + "]"
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("non-finite value")
        return json.dumps(obj)
    return json.dumps(obj)


def floats(t):
    return [[float(v) for v in row] for row in t.tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trl-src", help="unpacked trl-1.16.0 wheel: cross-check against TRL's own code")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    torch.set_num_threads(1)

    trl = load_trl(args.trl_src) if args.trl_src else None
    worst = worst_adv = 0.0

    loss_cases = []
    for name, loss_type, eps_low, eps_high, beta, bias_corr, seed, lengths in LOSS_CASES:
        x = make_inputs(seed, lengths)
        res = reference_loss(x, loss_type, eps_low, eps_high, beta, bias_corr, MAX_COMPLETION_LENGTH)

        # Sanity: the case exercises what it should.
        ratio, mask, adv = res["ratio"], x["mask"], x["advantages"]
        for bound in (1 - eps_low, 1 + eps_high):
            gap = (ratio - bound).abs().min().item()
            assert gap > BOUNDARY_MARGIN, f"{name}: a ratio is {gap:.2e} from the clip bound {bound}"
        assert res["clip_low"] > 0 and res["clip_high"] > 0, f"{name}: needs low and high clipped tokens"
        real = mask.bool()
        # Also clipped tokens that are NOT counted (ratio out of range, advantage of the other sign).
        assert ((ratio < 1 - eps_low) & (adv[:, None] > 0) & real).any(), f"{name}: no low ratio with A > 0"
        assert ((ratio > 1 + eps_high) & (adv[:, None] < 0) & real).any(), f"{name}: no high ratio with A < 0"
        assert (res["grad_logp"][~real] == 0).all()

        if trl is not None:
            t = trl_loss(trl[1], x, loss_type, eps_low, eps_high, beta, bias_corr, MAX_COMPLETION_LENGTH)
            diffs = [
                abs(t["loss"] - res["loss"]),
                (t["grad_logp"] - res["grad_logp"]).abs().max().item(),
                abs(t["clip_low"] - res["clip_low"]),
                abs(t["clip_high"] - res["clip_high"]),
            ]
            if beta != 0.0:
                diffs.append(abs(t["kl_trl"] - res["kl_trl"]))
            assert t["logs_kl"] == (beta != 0.0)
            d = max(diffs)
            worst = max(worst, d)
            assert d < 1e-12, f"{name}: TRL differs by {d:.3e}"

        loss_cases.append(
            {
                "name": name,
                "loss_type": loss_type,
                "eps_low": eps_low,
                "eps_high": eps_high,
                "beta": beta,
                "kl_bias_correction": bias_corr,
                "max_completion_length": MAX_COMPLETION_LENGTH,
                "logp": floats(x["logp"]),
                "old_logp": floats(x["old_logp"]),
                "ref_logp": floats(x["ref_logp"]),
                "advantages": [float(v) for v in x["advantages"].tolist()],
                "mask": [[int(v) for v in row] for row in x["mask"].tolist()],
                "loss": res["loss"],
                "grad_logp": floats(res["grad_logp"]),
                "clip_low": res["clip_low"],
                "clip_high": res["clip_high"],
                "kl": res["kl"],
                "kl_trl": res["kl_trl"],
            }
        )

    advantage_cases = []
    for name, scale in ADVANTAGE_CASES:
        a = reference_advantages(REWARDS, GROUP_SIZE, scale)
        if trl is not None:
            ta = trl_advantages(trl[0], trl[2], REWARDS, GROUP_SIZE, scale)
            # TRL's nanstd computes the Bessel factor count / (count - 1) from int64 counts, which torch
            # divides in float32 (4/3 -> 1.33333337), so its std is off by ~1e-8 relative even in float64.
            d = (ta - a).abs().max().item()
            worst_adv = max(worst_adv, d)
            assert d < 1e-6, f"{name}: TRL differs by {d:.3e}"
        advantage_cases.append(
            {
                "name": name,
                "scale": scale,
                "group_size": GROUP_SIZE,
                "rewards": [float(v) for v in REWARDS],
                "advantages": [float(v) for v in a.tolist()],
            }
        )

    doc = {
        "generator": (
            f"scripts/make_grpo_golden.py; CPython {platform.python_version()}, torch {torch.__version__}, "
            f"numpy {np.__version__}; float64, gradient by autograd; formulas of TRL 1.16.0 "
            "GRPOTrainer._compute_loss (kl_bias_correction = use_bias_correction_kl)"
        ),
        "loss_cases": loss_cases,
        "advantage_cases": advantage_cases,
    }
    Path(args.out).write_text(dump(doc) + "\n")
    print(f"wrote {args.out}: {len(loss_cases)} loss cases, {len(advantage_cases)} advantage cases")
    if trl is not None:
        print(f"TRL 1.16.0 cross-check: max |difference| {worst:.3e} (loss, grad, clip metrics, kl), "
              f"{worst_adv:.3e} (advantages)")
    for c in loss_cases:
        print(f"  {c['name']:40s} loss {c['loss']:+.6f} clip_low {c['clip_low']:.3f} clip_high {c['clip_high']:.3f} kl {c['kl']:.5f}")
    for c in advantage_cases:
        print(f"  {c['name']:40s} {['%.4f' % v for v in c['advantages']]}")


if __name__ == "__main__":
    sys.exit(main())
