"""The GPU check (`sftkit doctor --gpu`, `make gpu-check`): every method's command-line path for a few steps on
a larger model, the generation path and LoRA, with step time, tokens/s, peak memory and pass/fail per line.

The model is a Llama of the embedded tiny model's family (its character tokenizer and chat template) with
about 50M parameters (`CHECK_MODEL`), randomly initialised: nothing comes from the internet, and the numbers
measure speed and memory, not learning. Each method runs through `sftkit.cli.main` exactly as typed on the
command line (`sftkit train METHOD ...`, `sftkit generate METHOD ...`, `sftkit eval ...`), so on CUDA it trains
in bf16, sftkit's default there. `--device cpu --tiny` runs the same code on a 14k-parameter model in
seconds: that is how the tests exercise it.

Tokens/s counts non-pad tokens: the training batches' (`sftkit.train.Meter`), the online methods' rollouts
(prompt and reply), the replies `sftkit eval` generated. Peak memory is `torch.cuda.max_memory_allocated`
on CUDA, the growth of the process's resident memory elsewhere.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .io import SftkitError, atomic_write_text, runs_dir, shown, write_jsonl

# ~50M parameters (10 layers of 4*640^2 attention + 3*640*1728 MLP weights); head_dim 64.
CHECK_MODEL = dict(hidden_size=640, intermediate_size=1728, num_hidden_layers=10, num_attention_heads=10,
                   num_key_value_heads=10)
TINY_MODEL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=2)
LORA_R = 8
EVAL_PROMPTS = 128  # test-split prompts answered by the generation check (one batch of `sftkit eval`)


@dataclass
class Line:
    """One checked path: `name` (e.g. "sft", "sft --lora-r 8", "eval"), whether it passed, its median step
    time, non-pad tokens per second, peak memory, wall seconds, and the error's last line when it failed."""

    name: str
    passed: bool
    step_ms: float | None = None
    tokens_per_s: float | None = None
    peak_mb: float | None = None
    seconds: float = 0.0
    error: str = ""

    def text(self) -> str:
        def num(x, fmt, width):
            return format(format(x, fmt) if x is not None and math.isfinite(x) else "–", f">{width}")

        status = "pass" if self.passed else "FAIL"
        line = (f"  {self.name:18s} {status:4s} {num(self.step_ms, '.1f', 9)} {num(self.tokens_per_s, ',.0f', 10)} "
                f"{num(self.peak_mb, '.0f', 8)} {self.seconds:7.1f}")
        return line + (f"  {self.error}" if self.error else "")


HEADER = f"  {'path':18s} {'':4s} {'step ms':>9s} {'tokens/s':>10s} {'peak MB':>8s} {'seconds':>7s}"


def build_check_model(path: Path, tiny: bool = False, seed: int = 0) -> int:
    """Save a randomly initialised Llama (`TINY_MODEL` if `tiny`, else `CHECK_MODEL`) with the tiny model's
    tokenizer to `path`; returns its parameter count."""
    from .model import count_parameters
    from .pretrain import build_char_tokenizer, build_tiny_model

    tokenizer = build_char_tokenizer()
    model = build_tiny_model(tokenizer, seed=seed, **(TINY_MODEL if tiny else CHECK_MODEL))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return count_parameters(model)


def run_cli(cli, argv: list[str]) -> tuple[int, str]:
    """`cli(argv)` (`sftkit.cli.main`, passed in by the CLI: this module does not import it) with its printing
    captured: (exit status, the last line it printed, or the exception's type and message when it raised one)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli(argv)
    except Exception as e:  # a check reports every failure as a FAIL line and goes on with the next path
        return 1, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return code, lines[-1] if lines else ""


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def finite_losses(history: list[dict]) -> bool:
    """No logged loss (or loss part) is NaN or infinite."""
    return all(math.isfinite(v) for h in history for k, v in h.items()
               if "loss" in k and isinstance(v, (int, float)))


def train_line(cli, name: str, argv: list[str], output: Path) -> Line:
    """Run `sftkit train ...` (`argv`) and read the step time, tokens/s and peak memory from its train_log.json."""
    start = time.perf_counter()
    code, said = run_cli(cli, argv)
    seconds = time.perf_counter() - start
    if code != 0:
        return Line(name, False, seconds=seconds, error=said)
    log = json.loads((output / "train_log.json").read_text())
    history = log["history"]
    if "step_time_s" in log:  # loss-side: sftkit.train's Meter
        step_s, tokens_per_s = log["step_time_s"], log["tokens_per_s"]
    else:  # online: one history row per step, with its seconds and rollout tokens
        timed = history[1:] or history  # the first step pays for warm-up
        step_s = statistics.median(h["seconds"] for h in timed)
        tokens_per_s = sum(h["tokens"] for h in timed) / sum(h["seconds"] for h in timed)
    passed = finite_losses(history)
    return Line(name, passed, 1000 * step_s, tokens_per_s, log["peak_mem_mb"], seconds,
                "" if passed else "a logged loss is not finite")


def eval_line(cli, model: str, device: str, work: Path) -> Line:
    """`sftkit eval` (batched greedy generation) on `EVAL_PROMPTS` test prompts; tokens/s: the generated tokens
    (each reply's own and its end-of-turn token) over the command's wall time, model loading included."""
    import torch

    from .data import load_world
    from .model import load_model

    data, preds = work / "eval-prompts.jsonl", work / "eval-predictions.jsonl"
    write_jsonl(data, load_world("test")[:EVAL_PROMPTS])
    reset_peak(device)
    start = time.perf_counter()
    code, said = run_cli(cli, ["eval", "--model", model, "--data", str(data), "--output", str(preds), "--device", device])
    seconds = time.perf_counter() - start
    if code != 0:
        return Line("eval", False, seconds=seconds, error=said)
    tokenizer = load_model(model, tokenizer_only=True)
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    generated = sum(len(tokenizer(r["prediction"], add_special_tokens=False)["input_ids"]) + 1 for r in rows)  # + <|end|>
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return Line("eval", len(rows) == EVAL_PROMPTS, None, generated / seconds, peak, seconds,
                "" if len(rows) == EVAL_PROMPTS else f"{len(rows)} predictions for {EVAL_PROMPTS} prompts")


def generate_line(cli, name: str, model: str, device: str, steps: int, work: Path) -> Line:
    """`sftkit generate NAME` with the scripted teacher on a small input (augcon: 3 of the tiny world's documents,
    its scorer trained from the check's model for `steps` steps; skillmix: 20 examples; selfdebug: 10 code tasks; no
    model of their own):
    a pass/fail and its wall time."""
    output = work / f"{name}.jsonl"
    if name == "augcon":
        from .methods.augcon import default_documents

        documents = work / "documents.jsonl"
        write_jsonl(documents, [{"id": d["id"], "text": d["text"]} for d in default_documents()[:3]])
        extra = ["--documents", str(documents), "--scorer-model", model, "--scorer-steps", str(steps)]
    elif name == "selfdebug":
        extra = ["--max-tasks", "10"]
    else:
        extra = ["--num-data", "20"]
    start = time.perf_counter()
    code, said = run_cli(cli, ["generate", name, "--output", str(output), "--device", device, *extra])
    seconds = time.perf_counter() - start
    return Line(f"{name} (generate)", code == 0 and output.exists(), seconds=seconds, error="" if code == 0 else said)


def preference_file(path: Path, n: int = 256) -> Path:
    """The first `n` tiny-world train records as preference pairs (gold vs a corrupted answer), in JSONL."""
    from .data import load_world
    from .world import world_pairs

    write_jsonl(path, world_pairs(load_world("train")[:n]))
    return path


def method_lines(cli, model: str, device: str, steps: int, batch_size: int, work: Path, show) -> list[Line]:
    """One line per registered method (`sftkit.methods.NAMES`), then plain SFT with LoRA."""
    from .methods import NAMES, get

    pairs = preference_file(work / "pairs.jsonl")
    lines = []
    runs = [(name, []) for name in NAMES] + [("sft", ["--lora-r", str(LORA_R)])]
    for name, extra in runs:
        spec = get(name)
        label = " ".join([name, *extra])
        if spec.shape == "data":
            lines.append(generate_line(cli, name, model, device, steps, work))
        else:
            output = work / f"{name}{'-lora' if extra else ''}"
            argv = ["train", name, "--model", model, "--output", str(output), "--steps", str(steps),
                    "--save-steps", "0", "--device", device, *extra]
            if spec.shape == "loss":
                argv += ["--batch-size", str(batch_size)]
            if spec.data == "preference":
                argv += ["--data", str(pairs)]
            lines.append(train_line(cli, label, argv, output))
        show(lines[-1].text())
    return lines


def gpu_check(cli, device: str = "cuda", tiny: bool = False, steps: int | None = None, batch_size: int | None = None,
              output: str | Path | None = None, show=print) -> dict:
    """Run the check through `cli` (`sftkit.cli.main`) and write its results (JSON, atomically) to `output`
    (default `runs_dir()/gpu-check.json`,
    with `--tiny` gpu-check-tiny.json); returns them. Every method trains `steps` steps (default 10, 4 with
    `tiny`) at batch `batch_size` (default 32; online methods keep their own batch). Raises `SftkitError`
    when `device` is CUDA and no CUDA GPU is there."""
    import torch

    from . import __version__

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SftkitError("no CUDA GPU found; `sftkit doctor --gpu --device cpu --tiny` runs the same check small on the CPU")
    steps = steps or (4 if tiny else 10)
    batch_size = batch_size or 32
    output = Path(output or runs_dir() / f"gpu-check{'-tiny' if tiny else ''}.json")
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    with tempfile.TemporaryDirectory(prefix="sftkit-gpu-check-") as scratch:
        work = Path(scratch)
        model = str(work / "model")
        params = build_check_model(Path(model), tiny=tiny)
        show(f"GPU check on {device}{f' ({gpu})' if gpu else ''}: a random Llama of {params:,} parameters, "
             f"{steps} steps of batch {batch_size} per method (online methods: their own batch)")
        show(HEADER)
        lines = method_lines(cli, model, device, steps, batch_size, work, show)
        lines.append(eval_line(cli, model, device, work))
        show(lines[-1].text())
    failed = [line.name for line in lines if not line.passed]
    result = {"date": datetime.date.today().isoformat(), "sftkit": __version__, "torch": torch.__version__,
              "device": device, "gpu": gpu, "dtype": "bfloat16" if device.startswith("cuda") else "float32",
              "model": {"parameters": params, **(TINY_MODEL if tiny else CHECK_MODEL)}, "steps": steps,
              "batch_size": batch_size, "lines": [asdict(line) for line in lines], "failed": failed}
    atomic_write_text(output, json.dumps(result, indent=1) + "\n")
    show(f"{len(lines) - len(failed)} of {len(lines)} passed" + (f" (failed: {', '.join(failed)})" if failed else "")
         + f"; wrote {shown(output)}")
    return result
