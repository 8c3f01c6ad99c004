#!/usr/bin/env python3
"""Build the tiny random Hugging Face checkpoints and reference logits under tests/fixtures/.

    bash scripts/setup_python.sh
    .venv-py/bin/python scripts/make_parity_fixture.py

Writes (all small, committed to git):

    tests/fixtures/tiny-qwen2/        config.json, generation_config.json, model.safetensors (f32),
                                      parity.safetensors
    tests/fixtures/tiny-llama/        same, Llama with tied embeddings
    tests/fixtures/tiny-qwen2-bf16/   the tiny-qwen2 weights stored in bfloat16, plus parity.safetensors
                                      holding the logits of those bf16-rounded weights run in float32

parity.safetensors holds input_ids, attention_mask, position_ids (int64 [3, 12]) and
logits (float32 [3, 12, 96]): a left-padded batch run through the HF model in float32,
eval mode, eager attention. The Rust test compares logits at non-pad positions to 1e-4.

Every parameter, biases and RMSNorm weights included, is overwritten with random values, so a
missing q/k/v bias or a wrong norm shows up as a logits mismatch.
"""

import copy
import json
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

COMMON = dict(
    vocab_size=96,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=64,
    max_position_embeddings=128,
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
    initializer_range=0.2,
    hidden_act="silu",
)
BATCH, SEQ = 3, 12
LEFT_PAD = [0, 4, 7]  # pad positions at the start of each row
PAD_ID = 0


def randomize_(model: torch.nn.Module) -> None:
    """Overwrite every parameter: matrices ~ N(0, 0.2^2), norm weights 1 + 0.1 N(0,1), biases 0.1 N(0,1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head appears once (as embed_tokens)
            if p.ndim == 2:
                p.copy_(torch.randn_like(p) * 0.2)
            elif name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                raise ValueError(f"unexpected parameter {name} {tuple(p.shape)}")


def make_inputs():
    input_ids = torch.randint(0, COMMON["vocab_size"], (BATCH, SEQ), dtype=torch.int64)
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
    for row, pad in enumerate(LEFT_PAD):
        attention_mask[row, :pad] = 0
    input_ids = input_ids.masked_fill(attention_mask == 0, PAD_ID)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids


@torch.no_grad()
def run(model, input_ids, attention_mask, position_ids) -> torch.Tensor:
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
    return out.logits.float().contiguous()


@torch.no_grad()
def check_padding_invariance(model, input_ids, attention_mask, logits) -> float:
    """Each row alone, without padding, must give the same logits at its real positions."""
    worst = 0.0
    for row, pad in enumerate(LEFT_PAD):
        ids = input_ids[row : row + 1, pad:]
        alone = model(input_ids=ids, use_cache=False).logits[0]
        worst = max(worst, (alone - logits[row, pad:]).abs().max().item())
    return worst


def fix_config_json(folder: Path, dtype: str) -> None:
    """transformers 5 writes `rope_parameters` and `dtype`; real checkpoints (Qwen2.5,
    DeepSeek-R1-Distill) carry the older top-level `rope_theta` and `torch_dtype` too.
    Write both so the file reads like a real checkpoint to any loader."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg["rope_theta"] = COMMON["rope_theta"]
    cfg["torch_dtype"] = dtype
    cfg["dtype"] = dtype
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_parity(folder: Path, input_ids, attention_mask, position_ids, logits) -> None:
    save_file(
        {
            "input_ids": input_ids.contiguous(),
            "attention_mask": attention_mask.contiguous(),
            "position_ids": position_ids.contiguous(),
            "logits": logits.contiguous(),
        },
        str(folder / "parity.safetensors"),
        # One key only: safetensors writes metadata in hash order, so several keys make the
        # file bytes differ from run to run.
        metadata={"made_by": f"scripts/make_parity_fixture.py, torch {torch.__version__.split('+')[0]}, "
                             f"transformers {transformers.__version__}"},
    )


def build(name: str, model: torch.nn.Module) -> tuple:
    folder = FIXTURES / name
    folder.mkdir(parents=True, exist_ok=True)
    randomize_(model)
    model.eval()
    input_ids, attention_mask, position_ids = make_inputs()
    logits = run(model, input_ids, attention_mask, position_ids)
    drift = check_padding_invariance(model, input_ids, attention_mask, logits)
    assert drift < 1e-5, f"{name}: padded vs unpadded logits differ by {drift}"
    model.save_pretrained(str(folder), safe_serialization=True)
    fix_config_json(folder, "float32")
    save_parity(folder, input_ids, attention_mask, position_ids, logits)
    real = attention_mask.bool()
    print(f"{name}: logits std {logits[real].std():.3f}, |max| {logits[real].abs().max():.3f}, "
          f"pad/unpad drift {drift:.2e}")
    return folder, (input_ids, attention_mask, position_ids)


def main() -> int:
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)

    qwen_cfg = Qwen2Config(**COMMON, tie_word_embeddings=False)
    qwen = Qwen2ForCausalLM._from_config(qwen_cfg, attn_implementation="eager", dtype=torch.float32)
    _, inputs = build("tiny-qwen2", qwen)

    llama_cfg = LlamaConfig(**COMMON, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
                            rope_scaling=None)
    llama = LlamaForCausalLM._from_config(llama_cfg, attn_implementation="eager", dtype=torch.float32)
    build("tiny-llama", llama)

    # The same Qwen2 weights stored as bfloat16. Its parity logits are the bf16-rounded
    # weights run in float32 on the same inputs, i.e. what a loader that upcasts bf16 -> f32
    # must reproduce.
    folder = FIXTURES / "tiny-qwen2-bf16"
    folder.mkdir(parents=True, exist_ok=True)
    qwen_bf16 = copy.deepcopy(qwen).to(torch.bfloat16)  # only for saving: .to() also rounds rope buffers
    qwen_bf16.config.dtype = torch.bfloat16
    qwen_bf16.save_pretrained(str(folder), safe_serialization=True)
    fix_config_json(folder, "bfloat16")
    with torch.no_grad():  # the f32 model with its parameters (not its rope buffers) rounded to bf16
        for p in qwen.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    logits = run(qwen, *inputs)
    save_parity(folder, *inputs, logits)
    print(f"tiny-qwen2-bf16: logits std {logits[inputs[1].bool()].std():.3f}")

    for f in sorted(FIXTURES.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(ROOT)}  {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
