"""sftkit against TRL: training speed for SFT and DPO, and evaluation's generation, on this machine's CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/speed.py            # about 7 minutes on 2 cores
    PYTHONPATH=. .venv/bin/python benchmarks/speed.py --steps 4 --reps 1 --no-generation   # a quick look
    PYTHONPATH=. .venv/bin/python benchmarks/speed.py --accuracy-only   # packing's accuracy: 3 runs of 300 steps

Every arm trains a fresh copy of the embedded tiny base model (fp32, 1.8M parameters) on the tiny world's train
split (SFT: the conversations, answer-only loss; DPO: `sftkit.world.world_pairs` of them, gold vs a corrupted
answer, beta 0.1) at batch 32 for the same number of steps and learning rate. The arms alternate within one
run (sftkit, TRL with its defaults, TRL tuned for the CPU, sftkit, ...) so that a slower or busier stretch of
the machine hits them alike; each arm's figure is its median over the repetitions. TRL "defaults" keeps
`SFTConfig` / `DPOConfig` as they are (bf16 autocast and gradient checkpointing on); "tuned" turns both off.

Each run is timed by the same callback (`sftkit.train.Meter`): the median step time after three warm-up
steps, and non-pad tokens (the attention mask's sum, chosen and rejected rows both for DPO) per second of
step time. Useful FLOP/s = 6 N x tokens/s (N the model's parameters, forward + backward; DPO's reference
forward, 2 N more per token, is not counted), shown as a fraction of a 1024 x 1024 fp32 matmul's FLOP/s
measured in the same run. Generation: `sftkit.evaluate` (prompts sorted by length, batches of 128) against a
plain loop of `model.generate` over the same prompts in file order, batches of 128, on the test and shift
splits, with a model after `--gen-steps` steps of sftkit SFT (it has learned to end its replies); tokens/s
counts each reply's tokens and its end token.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import torch
from transformers.trainer_callback import PrinterCallback

from sftkit.data import load_world, prompt_messages
from sftkit.evaluate import evaluate
from sftkit.methods import get
from sftkit.model import count_parameters, load_model
from sftkit.train import Meter, TrainConfig, train
from sftkit.world import EVAL_SPLITS, world_pairs

BATCH = 32
LR = 1e-3
GEN_BATCH = 128
MAX_NEW_TOKENS = 48


def matmul_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """fp32 FLOP/s (in GFLOP/s) of repeated n x n matmuls on the CPU: 2 n^3 per product, best of 1-s rounds."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(max(1, int(seconds))):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            torch.mm(a, b)
            count += 1
        best = max(best, 2 * n**3 * count / (time.perf_counter() - start) / 1e9)
    return best


def timed(meter: Meter) -> dict:
    return {"ms_per_step": 1000 * meter.step_time, "tokens_per_s": meter.tokens_per_s}


def sftkit_sft(records: list[dict], steps: int, bucket: int = 4, packing: bool = False) -> tuple[dict, torch.nn.Module]:
    """sftkit's plain SFT (`sftkit.train.train`); returns the timing and the trained model."""
    model, tokenizer = load_model("tiny", device="cpu")
    result = train(model, tokenizer, records, TrainConfig(steps=steps, batch_size=BATCH, lr=LR, bucket=bucket,
                                                          packing=packing))
    return {"ms_per_step": 1000 * result.step_time_s, "tokens_per_s": result.tokens_per_s}, result.model


def sftkit_dpo(pairs: list[dict], steps: int) -> dict:
    """sftkit's DPO trainer (`sftkit.methods.dpo`), as `sftkit train dpo` runs it."""
    spec = get("dpo")
    model, tokenizer = load_model("tiny", device="cpu")
    config = TrainConfig(steps=steps, batch_size=BATCH, lr=LR)
    result = train(model, tokenizer, [], config, trainer_cls=spec.trainer,
                   dataset=spec.tokenize(tokenizer, pairs, config.max_length), trainer_kwargs=spec.config().trainer_kwargs())
    return {"ms_per_step": 1000 * result.step_time_s, "tokens_per_s": result.tokens_per_s}


def trl_settings(steps: int, output_dir: str, tuned: bool) -> dict:
    """The arguments every TRL arm shares; `tuned` turns off bf16 autocast and gradient checkpointing."""
    settings = dict(output_dir=output_dir, max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=LR,
                    report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
                    include_num_input_tokens_seen="non_padding")
    return {**settings, "bf16": False, "gradient_checkpointing": False} if tuned else settings


def trl_sft(records: list[dict], steps: int, tuned: bool) -> dict:
    """TRL's SFTTrainer on the same conversations, loss on the assistant's tokens only (as sftkit)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_model("tiny", device="cpu")
    meter = Meter("cpu")
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(**trl_settings(steps, out, tuned), assistant_only_loss=True)
        trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer, callbacks=[meter],
                             train_dataset=Dataset.from_list([{"messages": r["messages"]} for r in records]))
        trainer.remove_callback(PrinterCallback)  # no log dict printed per run
        trainer.train()
    return timed(meter)


def trl_dpo(pairs: list[dict], steps: int, tuned: bool) -> dict:
    """TRL's DPOTrainer on the same pairs (its own frozen copy of the model as the reference), beta 0.1."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = load_model("tiny", device="cpu")
    meter = Meter("cpu")
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(**trl_settings(steps, out, tuned), beta=0.1)
        trainer = DPOTrainer(model=model, args=args, processing_class=tokenizer, callbacks=[meter],
                             train_dataset=Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")}
                                                              for p in pairs]))
        trainer.remove_callback(PrinterCallback)  # no log dict printed per run
        trainer.train()
    return timed(meter)


def reply_tokens(tokenizer, replies: list[str]) -> int:
    """Tokens generated for `replies`: each reply's own and its end token."""
    return sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) + 1 for r in replies)


@torch.no_grad()
def plain_generate(model, tokenizer, records: list[dict]) -> list[str]:
    """Greedy replies by a plain loop of `model.generate` over the prompts in their order, batches of 128,
    left-padded: what sftkit.evaluate.generate does without sorting the prompts by length."""
    model.eval()
    replies = []
    for start in range(0, len(records), GEN_BATCH):
        texts = [tokenizer.apply_chat_template(prompt_messages(r), tokenize=False, add_generation_prompt=True)
                 for r in records[start:start + GEN_BATCH]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        replies += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return replies


def generation(model, reps: int) -> dict:
    """sftkit.evaluate vs `plain_generate` on the eval splits, alternated `reps` times: seconds, tokens/s, and
    the share of prompts where both gave the same reply."""
    tokenizer = load_model("tiny", tokenizer_only=True)
    records = [r for split in EVAL_SPLITS for r in load_world(split)]
    seconds = {"sftkit.evaluate": [], "plain generate loop": []}
    replies = {}
    for _ in range(reps):
        start = time.perf_counter()
        replies["sftkit.evaluate"] = [row["prediction"] for row in evaluate(model, tokenizer, records)]
        seconds["sftkit.evaluate"].append(time.perf_counter() - start)
        start = time.perf_counter()
        replies["plain generate loop"] = plain_generate(model, tokenizer, records)
        seconds["plain generate loop"].append(time.perf_counter() - start)
    same = sum(a == b for a, b in zip(*replies.values())) / len(records)
    return {"prompts": len(records), "same_replies": same,
            **{name: {"seconds": statistics.median(s), "tokens": reply_tokens(tokenizer, replies[name]),
                      "tokens_per_s": reply_tokens(tokenizer, replies[name]) / statistics.median(s)}
               for name, s in seconds.items()}}


def packing_accuracy(seed: int = 0) -> dict[str, dict]:
    """Notebook 01's recipe (`sftkit.experiment.BASELINE`) as it is, with packing, and with packing and no length
    bucketing, one seed: test-split exact match (`sftkit.experiment.run_method`), training seconds and tokens/s."""
    from dataclasses import replace

    from sftkit.experiment import BASELINE, run_method

    out = {}
    for name, config in (("sftkit (BASELINE)", BASELINE), ("sftkit, packing", replace(BASELINE, packing=True)),
                         ("sftkit, packing, no length bucketing", replace(BASELINE, packing=True, bucket=1))):
        run = run_method("sft", seeds=(seed,), config=config, eval_splits=("test",))
        preds, result = run.predictions[seed], run.training[seed]
        out[name] = {"test_exact_match": sum(p["correct"] for p in preds) / len(preds), "n": len(preds),
                     "train_seconds": result.seconds, "ms_per_step": 1000 * result.step_time_s,
                     "tokens_per_s": result.tokens_per_s}
        print(f"{name}: test exact match {out[name]['test_exact_match']:.3f} (n={len(preds)}), "
              f"{result.seconds:.0f} s training, {out[name]['ms_per_step']:.0f} ms/step, "
              f"{result.tokens_per_s:,.0f} tokens/s", flush=True)
    return out


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def table(title: str, arms: dict[str, list[dict]], reference: str, params: int, peak: float) -> str:
    """A markdown table: ms/step, non-pad tokens/s, speed relative to `reference`, useful GFLOP/s, % of peak."""
    rows = [f"| {title} | median ms/step | non-pad tokens/s | vs {reference} | useful GFLOP/s (6N) | % of matmul peak |",
            "|---|---|---|---|---|---|"]
    ref = median_of(arms[reference])["tokens_per_s"]
    for name, runs in arms.items():
        m = median_of(runs)
        flops = 6 * params * m["tokens_per_s"] / 1e9
        rows.append(f"| {name} | {m['ms_per_step']:.0f} | {m['tokens_per_s']:,.0f} | {m['tokens_per_s'] / ref:.2f}x "
                    f"| {flops:.0f} | {100 * flops / peak:.0f}% |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per SFT arm")
    p.add_argument("--dpo-steps", type=int, default=6, help="optimizer steps per DPO arm")
    p.add_argument("--reps", type=int, default=2, help="repetitions of the alternated arms")
    p.add_argument("--gen-steps", type=int, default=100, help="SFT steps of the model the generation comparison uses")
    p.add_argument("--no-generation", action="store_true", help="skip the generation comparison")
    p.add_argument("--accuracy-only", action="store_true",
                   help="only train notebook 01's recipe with and without packing (seed 0) and print test exact match")
    args = p.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5.2x renames gradient checkpointing
    started = time.time()
    if args.accuracy_only:
        packing_accuracy()
        print(f"\n{(time.time() - started) / 60:.1f} minutes in all")
        return
    records = load_world("train")
    pairs = world_pairs(records)
    params = count_parameters(load_model("tiny", device="cpu")[0])
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; tiny-base {params:,} parameters; "
          f"{len(records)} train conversations, {len(pairs)} pairs; batch {BATCH}; "
          f"fp32 1024x1024 matmul: {peak:.0f} GFLOP/s", flush=True)
    sft_arms = {"sftkit": lambda: sftkit_sft(records, args.steps)[0],
                "sftkit, no length bucketing (--bucket 1)": lambda: sftkit_sft(records, args.steps, bucket=1)[0],
                "sftkit, packing (--packing)": lambda: sftkit_sft(records, args.steps, packing=True)[0],
                "sftkit, packing, no length bucketing (--packing --bucket 1)":
                    lambda: sftkit_sft(records, args.steps, bucket=1, packing=True)[0],
                "TRL SFTTrainer, defaults": lambda: trl_sft(records, args.steps, tuned=False),
                "TRL SFTTrainer, bf16 and gradient checkpointing off": lambda: trl_sft(records, args.steps, tuned=True)}
    dpo_arms = {"sftkit DPO": lambda: sftkit_dpo(pairs, args.dpo_steps),
                "TRL DPOTrainer, defaults": lambda: trl_dpo(pairs, args.dpo_steps, tuned=False),
                "TRL DPOTrainer, bf16 and gradient checkpointing off": lambda: trl_dpo(pairs, args.dpo_steps, tuned=True)}
    sft = {name: [] for name in sft_arms}
    dpo = {name: [] for name in dpo_arms}
    for rep in range(args.reps):
        for arms, runs in ((sft_arms, sft), (dpo_arms, dpo)):
            for name, arm in arms.items():
                runs[name].append(arm())
                print(f"rep {rep + 1} {name}: {runs[name][-1]['ms_per_step']:.0f} ms/step, "
                      f"{runs[name][-1]['tokens_per_s']:,.0f} tokens/s", flush=True)
    print(f"\nSFT, {args.steps} steps per arm, median of {args.reps}:\n")
    print(table("SFT (batch 32)", sft, "TRL SFTTrainer, bf16 and gradient checkpointing off", params, peak))
    print(f"\nDPO, {args.dpo_steps} steps per arm, median of {args.reps}:\n")
    print(table("DPO (batch 32 pairs)", dpo, "TRL DPOTrainer, bf16 and gradient checkpointing off", params, peak))
    if not args.no_generation:
        _, model = sftkit_sft(records, args.gen_steps)
        g = generation(model, reps=2)
        print(f"\nGeneration, {g['prompts']} prompts (test and shift splits), greedy, up to {MAX_NEW_TOKENS} new "
              f"tokens, model after {args.gen_steps} SFT steps; same reply for {100 * g['same_replies']:.1f}% of prompts:\n")
        print("| generation | seconds | generated tokens | tokens/s |\n|---|---|---|---|")
        for name in ("sftkit.evaluate", "plain generate loop"):
            print(f"| {name} | {g[name]['seconds']:.1f} | {g[name]['tokens']:,} | {g[name]['tokens_per_s']:,.0f} |")
    print(f"\n{(time.time() - started) / 60:.1f} minutes in all")


if __name__ == "__main__":
    main()
