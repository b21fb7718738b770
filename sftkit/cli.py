"""The `sftkit` command line: data and base-model regeneration, training, evaluation, leaderboard, tutorial.

`python -m sftkit ...` is the same command (no script on the PATH needed). Errors in user input print one
line naming the file/line/field and exit with status 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from .io import REPO_DIR, WORLD_DIR, SftkitError, atomic_dir, replace_marked_block, shown, user_data_dir, write_jsonl
from .world import EVAL_SPLITS, SPLITS


def ensure_writable(path: str | Path, advice: str, kind: str | None = None) -> None:
    """One clear line, before any work, instead of a PermissionError traceback later: `path` (a file or a
    directory to create) must be writable by this user. `kind` "file" or "dir" also refuses an existing path
    of the other kind (a model directory never replaces a file; a JSONL file never a directory)."""
    if kind == "dir" and Path(path).exists() and not Path(path).is_dir():
        raise SftkitError(f"--output {shown(path)} is an existing file, not a model directory: choose another "
                          "--output (or remove the file)")
    if kind == "file" and Path(path).is_dir():
        raise SftkitError(f"--output {shown(path)} is an existing directory: give a file path, e.g. "
                          f"{shown(Path(path) / 'out.jsonl')}")
    target = Path(path).resolve()
    folder = target if target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise SftkitError(f"{shown(path)}: {shown(folder)} is read-only for this user; {advice}")


def cmd_data(args):
    from .world import write_world

    counts = write_world(args.output, seed=args.seed)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def cmd_pretrain(args):
    from .pretrain import pretrain, write_model_card

    log = pretrain(args.corpus, args.output, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, threads=args.threads, device=args.device)
    write_model_card(args.output)
    print(f"saved {args.output} after {log['seconds']:.0f}s, final loss {log['loss'][-1]}")


def cmd_train(args):
    from .data import load_conversations, load_preferences
    from .experiment import train_method
    from .methods import get
    from .train import TrainConfig, is_main_process, world_size

    ensure_writable(args.output, f"choose another --output, e.g. {shown(user_data_dir() / 'runs' / Path(args.output).name)}",
                    kind="dir")
    spec = get(args.method)
    if spec.shape == "online" and world_size() > 1:
        raise SftkitError(f"{args.method} is an online method and trains in one process only (WORLD_SIZE="
                          f"{world_size()}): run `sftkit train {args.method} ...` without torchrun or accelerate launch")
    if args.packing and args.method != "sft":
        raise SftkitError(f"--packing is for sft only ({args.method}'s loss reads each row as one example)")
    if spec.shape == "online" and args.grad_accum != 1:
        raise SftkitError(f"--grad-accum is for loss-side methods; {args.method} steps on --batch-size prompts")
    reward = getattr(args, "reward", None)  # online methods only
    if spec.data == "preference":
        records = load_preferences(args.data)
    elif args.data is None and spec.default_data is not None:  # e.g. crlft: tiny-world mixed-quality data
        records, args.data = spec.default_data(reward)
        if is_main_process():
            print(f"data: {args.data}")
    else:
        records = load_conversations(args.data or WORLD_DIR / "train.jsonl", require=spec.required(reward))
    spec.check_data(records, reward)  # e.g. ppo --reward selfdebug: the reward's own fields, before any work
    method_config = spec.config(**{f.name: getattr(args, f.name) for f in spec.config.knobs()})
    if spec.shape == "online":
        return train_online(args, spec, records, method_config)
    lora = {"r": args.lora_r} if args.lora_r else None
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         max_length=args.max_length, save_steps=args.save_steps, bucket=args.bucket,
                         grad_accum=args.grad_accum, packing=args.packing,
                         extra={"method": args.method, **method_config.trainer_kwargs()})
    output = Path(args.output)
    checkpoints = output.with_name(output.name + ".checkpoints")  # survives a crash; resumed from
    result, tokenizer = train_method(spec, records, config, args.model, method_config, lora, args.device,
                                     output_dir=str(checkpoints))  # crlft: the saved template adds the expert condition
    if not is_main_process():  # under torchrun / accelerate launch, the main process alone writes and prints
        return
    model = result.model.merge_and_unload() if lora else result.model
    with atomic_dir(output) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        log = {"method": args.method, "variant": method_config.variant(), "data": str(args.data),
               "config": result.config, "world_size": world_size(), "step_time_s": result.step_time_s,
               "tokens_per_s": result.tokens_per_s, "peak_mem_mb": result.peak_mem_mb,
               "history": result.history}
        (tmp / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    shutil.rmtree(checkpoints, ignore_errors=True)
    resumed = f" (resumed from step {result.resumed_from}; {result.steps_run} run now)" if result.resumed_from else ""
    print(f"saved {output}: {config.steps} steps{resumed}, {train_summary(result)}")


def train_summary(result) -> str:
    """The end of `sftkit train`'s last line for a `sftkit.train.TrainResult`: the last logged loss, else
    (fewer steps than logging_steps) the Trainer's mean loss over the steps run, and the time per step; a run
    re-started after its final checkpoint has no steps left."""
    _, losses = result.losses
    if not result.steps_run:
        return "no steps left to run" + (f", last logged loss {losses[-1]:.4f}" if losses else "")
    loss = f"last logged loss {losses[-1]:.4f}" if losses else f"mean training loss {result.train_loss:.4f}"
    return f"{loss}, {1000 * result.step_time_s:.0f} ms/step"


def train_online(args, spec, records, method_config):
    """`sftkit train ppo|superhf`: the online loop on a fresh LoRA adapter (the method's own, or --lora-r), then
    the merged model, its tokenizer, the step history (and PPO's value head) saved atomically to --output.
    Checkpoints go to `<output>.checkpoints` every --save-steps steps; the same command, re-run after a crash,
    resumes from the newest one; they are removed once the model is saved."""
    import torch

    from .experiment import train_online_method
    from .online import OnlineConfig

    lora = {**spec.lora, "r": args.lora_r} if args.lora_r else spec.lora
    max_new_tokens = args.max_new_tokens or spec.max_new_tokens.get(args.reward, spec.online.max_new_tokens)
    output = Path(args.output)
    checkpoints = output.with_name(output.name + ".checkpoints")
    online = OnlineConfig(steps=args.steps, prompts_per_step=args.batch_size, samples_per_prompt=args.samples_per_prompt,
                          temperature=args.temperature, top_p=args.top_p, max_new_tokens=max_new_tokens,
                          max_length=args.max_length, lr=args.lr, seed=args.seed,
                          checkpoint_dir=str(checkpoints), save_every=args.save_steps)
    loop, tokenizer = train_online_method(spec, records, online, args.model, method_config, args.reward, lora, args.device)
    with atomic_dir(output) as tmp:
        loop.model.merge_and_unload().save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if hasattr(loop, "value_head"):
            torch.save(loop.value_head.state_dict(), tmp / "value_head.pt")
        log = {"method": args.method, "variant": method_config.variant(), "data": str(args.data),
               "reward": args.reward, **loop.state(), "peak_mem_mb": loop.peak_mem_mb}
        (tmp / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    shutil.rmtree(checkpoints, ignore_errors=True)
    last = loop.history[-min(10, len(loop.history)):]
    print(f"saved {output}: {len(loop.history)} {args.method} steps, mean reward of the last {len(last)} "
          f"{sum(h['reward'] for h in last) / len(last):.3f}, {sum(h['seconds'] for h in last) / len(last):.2f} s/step")


def cmd_generate(args):
    from .methods import get
    from .teachers import teacher_from

    ensure_writable(args.output, f"choose another --output, e.g. {shown(user_data_dir() / Path(args.output).name)}",
                    kind="file")
    spec = get(args.method)
    teacher = teacher_from(args.teacher, args.error_rate, args.laziness_rate, args.seed, args.base_url,
                           args.api_key_env, args.device, timeout=args.timeout, retries=args.retries, on_failure="skip",
                           tasks=spec.teacher_tasks())  # the method's explicit tasks
    method_config = spec.config(**{f.name: getattr(args, f.name) for f in spec.config.knobs()})
    records = spec.data_from_args(args, teacher, method_config)
    write_jsonl(args.output, records)
    if getattr(teacher, "failures", 0):
        print(f"{teacher.failures} prompts got no reply after {args.retries + 1} attempt(s) each ({teacher.last_failure}"
              f"); they were left out. Replies that arrived are cached: re-run the same command to retry the rest")
    print(f"wrote {len(records)} records to {args.output} (teacher {teacher.name}); "
          f"learn them with: sftkit train sft --data {args.output} --output ...")


def cmd_pairs(args):
    """`sftkit pairs`: tiny-world preference pairs for `sftkit train dpo|rpo` (`world_pairs`): chosen = the gold
    answer; rejected = realistic corruptions and, with --model, up to 2 of the model's own wrong samples (temperature
    1). With --on-policy (needs --model), notebook 05's recipe (`onpolicy_pairs`): rejected = one of the model's
    wrong samples, chosen = one of its right samples or else the gold answer, no corruptions."""
    from .data import load_world
    from .world import SKILLS, onpolicy_pairs, world_pairs

    ensure_writable(args.output, f"choose another --output, e.g. {shown(user_data_dir() / Path(args.output).name)}",
                    kind="file")
    if not args.model and not args.corruptions:
        raise SftkitError("--corruptions 0 without --model leaves no rejected answer: give one or the other")
    if args.on_policy and not args.model:
        raise SftkitError("--on-policy pairs come from a model's own samples: give --model")
    split = load_world(args.split)
    records = [r for skill in SKILLS for r in [x for x in split if x["skill"] == skill][:args.per_skill]]
    samples = None
    if args.model:
        from .evaluate import sample_answers
        from .model import load_model

        model, tokenizer = load_model(args.model, device=args.device)
        print(f"sampling {args.samples} answers to each of {len(records)} prompts from {args.model}", flush=True)
        samples = sample_answers(model, tokenizer, records, n=args.samples, temperature=1.0, seed=args.seed)
    if args.on_policy:
        pairs = onpolicy_pairs(records, samples)
        write_jsonl(args.output, pairs)
        both = sum(p["source"] == "on-policy" for p in pairs)
        print(f"wrote {len(pairs)} on-policy pairs to {args.output} ({both} with a right sample as chosen, "
              f"{len(pairs) - both} with the gold answer) from {len(records)} {args.split} prompts (prompts whose "
              f"samples were all right give none); learn them with: sftkit train dpo --data {args.output} --output ...")
        return
    pairs = world_pairs(records, samples, corruptions=args.corruptions, max_sampled=2, seed=args.seed)
    write_jsonl(args.output, pairs)
    own = sum(p["source"] == "sample" for p in pairs)
    print(f"wrote {len(pairs)} pairs to {args.output} ({own} from the model's own mistakes, {len(pairs) - own} "
          f"corruptions) from {len(records)} {args.split} prompts; learn them with: sftkit train dpo --data "
          f"{args.output} --output ...")


def cmd_eval(args):
    from .data import load_conversations
    from .evaluate import accuracy, evaluate
    from .model import load_model

    if args.output:
        ensure_writable(args.output, "choose another --output", kind="file")
    records = [r for path in args.data for r in load_conversations(path, require_gold=True)]
    model, tokenizer = load_model(args.model, device=args.device)
    # one line before what can be minutes of work (the defaults: 1,120 items, 5 splits); evaluate's bars follow once a
    # stage has run 5 s (not under TQDM_DISABLE=1)
    how = "generating every answer" if args.generate else "a teacher-forced pass, then generating what it leaves"
    print(f"evaluating {args.model} on {len(records):,} items from {len(args.data)} file{'s' * (len(args.data) > 1)}: "
          f"{how}", flush=True)
    rows = evaluate(model, tokenizer, records, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                    generate_all=args.generate, predictions=bool(args.output))  # without --output: scores only
    if args.output:
        write_jsonl(args.output, rows)
    for (split, skill), acc in accuracy(rows).items():
        print(f"{split:6s} {skill:10s} {acc['correct']:4d}/{acc['n']:<4d} {100 * acc['accuracy']:5.1f}%")


def cmd_leaderboard(args):
    from .methods import notebook_table
    from .results import write_leaderboard

    if args.readme and not Path(args.readme).is_file():
        raise SftkitError(f"--readme {args.readme}: no such file")
    if args.html:  # before any work: one line for a path the page cannot go to
        from .leaderboard import check_page_path

        ensure_writable(check_page_path(args.html), "give --html a path in a directory of your own")
    blocks = [name for name in ("leaderboard", "methods")  # the results tables (docs/results.md), the notebooks (README)
              if args.readme and f"<!-- {name}:start -->" in Path(args.readme).read_text()]
    if args.readme and not blocks:
        raise SftkitError(f"--readme {args.readme}: no <!-- leaderboard:start --> or <!-- methods:start --> marker in it")
    print(write_leaderboard(args.results, readme=args.readme if "leaderboard" in blocks else None))
    if "methods" in blocks:
        replace_marked_block(args.readme, "methods", notebook_table())
    if args.html:
        from .leaderboard import write_html

        print(f"wrote {shown(write_html(args.html, args.results))} (standalone: table, figure and claims in one file)")


def cmd_tutorial(args):
    """Execute every notebook in order (outputs written back in place), then build the leaderboard."""
    from .results import write_leaderboard
    from .tutorial import Limits, run_all

    paths = [Path(p) for p in args.notebooks] or sorted((REPO_DIR / "notebooks").glob("[0-9]*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SftkitError(f"{missing[0]}: no such notebook")
    for path in paths:
        ensure_writable(path, "`sftkit tutorial` writes each notebook back in place: run it in a clone of your own")
    for path in paths:  # before any work: an empty, malformed or non-notebook file is one line, not a traceback
        check_notebook(path)
    if args.profile:
        from . import profile

        ensure_writable(profile.DOC, "`sftkit tutorial --profile` writes docs/profile.md: run it in a clone of your own")
    if args.update_results:  # the kernels inherit it: a changed design may replace the committed results
        os.environ["SFTKIT_UPDATE_RESULTS"] = "1"
    limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout)
    if args.profile:
        minutes = profiled_run(paths, limits, complete=not args.notebooks)
    else:
        minutes = run_all(paths, limits)
    print(write_leaderboard(readme=REPO_DIR / "docs" / "results.md" if args.update_readme else None))
    if args.update_readme:
        import datetime

        from .methods import notebook_table
        from .tutorial import runtimes_table

        readme = REPO_DIR / "README.md"
        replace_marked_block(readme, "methods", notebook_table())
        if not args.notebooks:  # only a run of every notebook replaces the measured runtimes
            replace_marked_block(readme, "runtimes", runtimes_table(minutes, datetime.date.today().isoformat()))


def profiled_run(paths: list[Path], limits, complete: bool) -> dict[str, float]:
    """`run_all` with each kernel's profile collected, then docs/profile.md written (`sftkit.profile`): a
    `complete` run (every notebook) replaces its table, a partial one only its notebooks' rows."""
    import datetime
    import tempfile

    from . import profile
    from .doctor import cpu_cores
    from .tutorial import run_all

    with tempfile.TemporaryDirectory(prefix="sftkit-profile-") as tmp:
        minutes = run_all(paths, limits, profile_dir=tmp)
        kernels = {p.stem: profile.read(Path(tmp) / f"{p.stem}.json") for p in paths}
    rows = {p.stem: profile.notebook_row(minutes[p.name] * 60, kernels[p.stem]) for p in paths}
    machine = profile.machine_line(cpu_cores(), (k.get("device") for k in kernels.values()))
    profile.write_doc(profile.DOC, rows, complete, datetime.date.today().isoformat(), machine)
    print(f"wrote {shown(profile.DOC)}: where each notebook's minutes went")
    return minutes


def check_notebook(path: Path) -> None:
    """One line unless `path` is a readable Jupyter notebook (nbformat 4)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises JSON, validation, reader and encoding errors of several kinds
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise SftkitError(f"{path}: not a Jupyter notebook ({detail})") from None


def cmd_doctor(args):
    """Print the environment check; exit status 1 when it warns. With --gpu, then the GPU check
    (`sftkit.gpucheck`): exit status 1 when a path fails."""
    from .doctor import check_environment

    warned = bool(check_environment().warnings)
    if not args.gpu:
        return 1 if warned else 0
    from .gpucheck import gpu_check

    if args.output:
        ensure_writable(args.output, "choose another --output", kind="file")
    result = gpu_check(main, device=args.device, tiny=args.tiny, steps=args.steps, batch_size=args.batch_size,
                       output=args.output)
    return 1 if result["failed"] else 0


def cmd_classroom(args):
    """`sftkit classroom release DIR [NOTEBOOKS...]` and `sftkit classroom grade SUBMISSIONS --output CSV`."""
    from . import classroom

    if args.action == "release":
        ensure_writable(args.dir, "choose another DIR")
        report = classroom.release(args.dir, args.notebooks, keep_outputs=args.keep_outputs)
        for stem, c in report.items():
            print(f"{stem}: {c['solutions']} solutions removed, {c['hints']} hints kept, "
                  f"{c['answer_cells']} graded exercises")
        print(f"wrote {len(report)} student notebooks and README.md to {shown(args.dir)}")
        return 0
    ensure_writable(args.output, "choose another --output")
    rows = classroom.grade(args.submissions, args.output, source=args.source, timeout=args.timeout)
    for student in sorted({r["student"] for r in rows}):
        mine = [r for r in rows if r["student"] == student]
        print(f"{student}: {sum(r['result'] == 'PASS' for r in mine)}/{len(mine)} exercises pass")
    print(f"wrote {shown(args.output)}: {len(rows)} rows")
    return 0


def add_train_arguments(p: argparse.ArgumentParser, preference: bool = False) -> None:
    """The shared budget (`sftkit.train.TrainConfig`) and input/output of `sftkit train METHOD`."""
    formats = "; .jsonl, .json, .parquet, .csv, or a datasets save_to_disk directory (DIR:SPLIT, default train)"
    data_help = ("{prompt, chosen, rejected} preference records" if preference
                 else "conversational ({messages: [...]}) or prompt-completion ({prompt, completion}) records") + formats
    p.add_argument("--model", default="tiny", help="'tiny' (embedded), a local path, or a Hub id")
    p.add_argument("--data", default=None, required=preference,
                   help=data_help + ("" if preference else " (default: the method's tiny-world data, e.g. train.jsonl)"))
    p.add_argument("--output", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--bucket", type=int, default=4,
                   help="draw batches from groups of this many batches sorted by length (1: plain random)")
    p.add_argument("--grad-accum", type=int, default=1,
                   help="micro-batches of --batch-size per optimizer step (the step's loss is that of their union)")
    p.add_argument("--packing", action="store_true",
                   help="sft only: pack each batch's examples several to a row, attention kept within each example")
    p.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tuning)")
    p.add_argument("--save-steps", type=int, default=100, help="checkpoint interval (resume on restart)")
    p.add_argument("--device", default=None)


def add_knob(group, f: dataclasses.Field) -> None:
    """One `--flag` for a method Config field: type from the default (or the annotation), help from metadata."""
    default = f.default
    if isinstance(default, bool):
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=argparse.BooleanOptionalAction,
                           default=default, help=f"{f.metadata.get('help', '')} (default: {default})")
        return
    kind = type(default) if default is not None else (float if "float" in str(f.type) else
                                                       int if "int" in str(f.type) else str)
    shown = "None" if default is None else default
    group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=default,
                       choices=f.metadata.get("choices"), help=f"{f.metadata.get('help', '')} (default: {shown})")


def all_methods():
    from .methods import all_methods as methods

    return methods()


def build_parser(with_methods: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sftkit", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="regenerate the tiny world's JSONL splits and corpus (byte for byte)")
    d.add_argument("--output", default=str(WORLD_DIR))
    d.add_argument("--seed", type=int, default=1234)
    d.set_defaults(func=cmd_data)

    pt = sub.add_parser("pretrain", help="pretrain the embedded tiny base model on the prose corpus")
    pt.add_argument("--corpus", default=str(WORLD_DIR / "corpus.txt"))
    pt.add_argument("--output", default=None, help="default: data/models/tiny-base")
    pt.add_argument("--steps", type=int, default=8000)
    pt.add_argument("--batch-size", type=int, default=32)
    pt.add_argument("--lr", type=float, default=3e-3)
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--threads", type=int, default=2, help="torch threads (results depend on it)")
    pt.add_argument("--device", default="cpu", help="cpu or cuda (results depend on it; cuda: about a minute)")
    pt.set_defaults(func=cmd_pretrain)

    t = sub.add_parser("train", help="fine-tune a model with one method (sftkit train --help lists them)",
                       description="Fine-tune a model with one method; `sftkit train METHOD --help` shows its knobs.")
    methods = t.add_subparsers(dest="method", required=True, metavar="METHOD")
    for spec in all_methods() if with_methods else []:  # importing the methods loads torch: only for `train`
        if spec.shape == "data":
            continue  # data-side methods make data (`sftkit generate`) that `sftkit train sft` learns
        m = methods.add_parser(spec.name, help=f"{spec.summary} [{spec.shape}-side]", description=spec.summary)
        add_train_arguments(m, preference=spec.data == "preference")
        if spec.shape == "online":  # the loop's budget and sampling, with the method's own defaults
            o = spec.online
            m.set_defaults(batch_size=o.prompts_per_step, lr=o.lr)
            m.add_argument("--reward", default=spec.reward, help=spec.reward_function.__doc__.split(": ", 1)[1]
                           .replace("\n", " ").replace("  ", " ").replace("%", "%%"))
            m.add_argument("--samples-per-prompt", type=int, default=o.samples_per_prompt,
                           help="replies sampled per prompt (--batch-size is the prompts per step)")
            m.add_argument("--temperature", type=float, default=o.temperature, help="sampling temperature of the rollouts")
            m.add_argument("--top-p", type=float, default=o.top_p, help="nucleus sampling of the rollouts")
            by_reward = "".join(f"; --reward {r}: {n}" for r, n in spec.max_new_tokens.items())
            m.add_argument("--max-new-tokens", type=int, default=None,
                           help=f"longest reply sampled (default: {o.max_new_tokens}{by_reward})")
        knobs = m.add_argument_group(f"{spec.name} knobs (sftkit.methods.{spec.name}.Config)")
        for f in spec.config.knobs():
            add_knob(knobs, f)
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("generate", help="make SFT data with a data-side method and a teacher (then: sftkit train sft)",
                       description="Make SFT data with a data-side method; `sftkit generate METHOD --help` shows its knobs.")
    makers = g.add_subparsers(dest="method", required=True, metavar="METHOD")
    for spec in all_methods() if with_methods else []:
        if spec.shape != "data":
            continue
        m = makers.add_parser(spec.name, help=f"{spec.summary} [data-side]", description=spec.summary)
        m.add_argument("--output", required=True, help="the conversational JSONL to write (atomically)")
        spec.add_generate_arguments(m)  # the method's own inputs (documents, seed instructions, ...)
        m.add_argument("--teacher", default="scripted", help="'scripted' (the tiny world's), 'hf:MODEL' (local "
                       "transformers: 'tiny', a path or a Hub id) or 'openai:MODEL' (a server at --base-url)")
        m.add_argument("--error-rate", type=float, default=0.2, help="scripted teacher: share of realistic mistakes")
        m.add_argument("--laziness-rate", type=float, default=0.05, help="scripted teacher: share of non-answers")
        m.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="openai teacher: the server")
        m.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai teacher: the key's environment variable")
        m.add_argument("--timeout", type=float, default=60.0, help="openai teacher: seconds per request (connect, "
                       "and each read)")
        m.add_argument("--retries", type=int, default=4, help="openai teacher: further attempts after a timeout, a "
                       "dropped connection, HTTP 429/5xx or a malformed reply; a prompt that runs out is left out "
                       "and counted, the others finish")
        m.add_argument("--seed", type=int, default=0)
        m.add_argument("--device", default=None)
        knobs = m.add_argument_group(f"{spec.name} knobs (sftkit.methods.{spec.name}.Config)")
        for f in spec.config.knobs():
            add_knob(knobs, f)
    g.set_defaults(func=cmd_generate)

    pa = sub.add_parser("pairs", help="tiny-world preference pairs for sftkit train dpo|rpo (gold vs corruptions and, "
                        "with --model, the model's own wrong samples; --on-policy: notebook 05's recipe)")
    pa.add_argument("--output", required=True, help="the preference JSONL to write ({prompt, chosen, rejected} records)")
    pa.add_argument("--model", default=None, help="also sample this model's answers and keep up to 2 wrong ones per "
                    "prompt as rejected (e.g. an SFT model: on-policy mistakes); default: corruptions only")
    pa.add_argument("--samples", type=int, default=4, help="--model: answers sampled per prompt (temperature 1)")
    pa.add_argument("--on-policy", action="store_true", help="--model: one pair per prompt from the model's own "
                    "samples (a wrong one rejected; a right one, else the gold answer, chosen), no corruptions: "
                    "notebook 05's recipe (sftkit.world.onpolicy_pairs)")
    pa.add_argument("--split", default="train", choices=SPLITS, help="the tiny-world split the prompts come from")
    pa.add_argument("--per-skill", type=int, default=32, help="prompts per skill (the split's first ones)")
    pa.add_argument("--corruptions", type=int, default=1, help="corrupted answers per prompt (a skill's realistic "
                    "mistakes: sftkit.world.corrupt)")
    pa.add_argument("--seed", type=int, default=0)
    pa.add_argument("--device", default=None)
    pa.set_defaults(func=cmd_pairs)

    e = sub.add_parser("eval", help="exact match per split and skill (greedy, batched)")
    e.add_argument("--model", default="tiny")
    e.add_argument("--data", nargs="+", default=[str(WORLD_DIR / f"{s}.jsonl") for s in EVAL_SPLITS],
                   help="records with skill and answer, in any --data format of `sftkit train`")
    e.add_argument("--output", help="write per-example predictions here (JSONL)")
    e.add_argument("--max-new-tokens", type=int, default=48)
    e.add_argument("--batch-size", type=int, default=128)
    e.add_argument("--device", default=None)
    e.add_argument("--generate", action="store_true",
                   help="generate every answer; by default one teacher-forced pass decides the answers greedy decoding "
                        "would get right and only the rest are generated (same results, item by item)")
    e.set_defaults(func=cmd_eval)

    lb = sub.add_parser("leaderboard", help="results/*.jsonl -> results/leaderboard.md (and docs/results.md's tables, HTML page)")
    lb.add_argument("--results", default=None, help="default: results/, or your own copy when the checkout is "
                    "read-only or shared (see README)")
    lb.add_argument("--readme", default=None, help="also refresh the table in this Markdown file (between "
                    "<!-- leaderboard:start --> and <!-- leaderboard:end -->; the repository's is docs/results.md)")
    lb.add_argument("--html", default=None, metavar="PATH", help="also write a standalone HTML page (the table, the "
                    "accuracy-vs-cost figure embedded, the papers' claims checked) for a course website")
    lb.set_defaults(func=cmd_leaderboard)

    tu = sub.add_parser("tutorial", help="execute every notebook in order, headless, then the leaderboard")
    tu.add_argument("notebooks", nargs="*")
    tu.add_argument("--cell-timeout", type=float, default=1200, help="seconds one cell may run")
    tu.add_argument("--notebook-timeout", type=float, default=2700,
                    help="seconds one notebook may run (kernel start included)")
    tu.add_argument("--update-readme", action="store_true", help="refresh the results tables in docs/results.md and "
                    "the README's notebook table")
    tu.add_argument("--profile", action="store_true",
                    help="also record where each notebook's minutes go (train, generate, evaluate, sandbox, teacher, "
                         "other) in docs/profile.md: every notebook replaces its table, some only their rows")
    tu.add_argument("--update-results", action="store_true",
                    help="let runs whose settings differ from the committed results replace them in results/ (a changed "
                         "design); without it such runs go to runs/results/")
    tu.set_defaults(func=cmd_tutorial)

    dr = sub.add_parser("doctor", help="check this machine: versions, cores, device, memory, where results go, "
                        "expected minutes per notebook (exit status 1 on a warning); --gpu: the GPU check")
    dr.add_argument("--gpu", action="store_true", help="then train every method a few steps on a random ~50M-parameter "
                    "model in bf16, generate, and LoRA: step time, tokens/s, peak memory, pass/fail (sftkit.gpucheck)")
    dr.add_argument("--device", default="cuda", help="--gpu: the device to check (cpu: see --tiny)")
    dr.add_argument("--tiny", action="store_true", help="--gpu: a 14k-parameter model instead, e.g. with --device cpu")
    dr.add_argument("--steps", type=int, default=None, help="--gpu: steps per method (default 10; --tiny 4)")
    dr.add_argument("--batch-size", type=int, default=None, help="--gpu: batch of the loss-side methods (default 32)")
    dr.add_argument("--output", default=None, help="--gpu: the results file (JSON; default runs/gpu-check.json, "
                    "or your own runs directory on a shared checkout)")
    dr.set_defaults(func=cmd_doctor)

    cl = sub.add_parser("classroom", help="student copies without solutions (release) and grading of their "
                        "\"Check yourself\" exercises (grade)")
    actions = cl.add_subparsers(dest="action", required=True, metavar="ACTION")
    rel = actions.add_parser("release", help="write student copies (solutions removed, hints and checkers kept)")
    rel.add_argument("dir", help="the folder to write the copies and a README.md into")
    rel.add_argument("notebooks", nargs="*", help="default: every notebook")
    rel.add_argument("--keep-outputs", action="store_true", help="keep the committed outputs (default: cleared)")
    gr = actions.add_parser("grade", help="run each student's answers against the checkers: one CSV row per "
                            "student, notebook and exercise")
    gr.add_argument("submissions", help="one folder per student, holding that student's notebooks")
    gr.add_argument("--output", required=True, help="the CSV to write")
    gr.add_argument("--source", default=str(REPO_DIR / "notebooks"),
                    help="the instructor's notebooks (the checker calls are taken from them)")
    gr.add_argument("--timeout", type=float, default=120, help="seconds one exercise may run")
    cl.set_defaults(func=cmd_classroom)
    return p


# Numeric flags, checked before any work (`check_numbers`): name -> (test, what it must be).
_AT_LEAST_1 = ("steps", "batch_size", "samples", "per_skill", "max_new_tokens", "max_length", "grad_accum", "bucket",
               "samples_per_prompt", "threads", "num_data", "scorer_steps", "max_tasks", "ppo_epochs", "minibatch_size",
               "k", "top_k", "kl_horizon", "reference_steps", "reference_checkpoints", "mutations_per_task", "replies_per_attempt")
_AT_LEAST_0 = ("save_steps", "lora_r", "retries", "corruptions")
_ABOVE_0 = ("lr", "scorer_lr", "cell_timeout", "notebook_timeout", "temperature", "timeout")
_FROM_0_TO_1 = ("top_p", "error_rate", "laziness_rate", "shirker_fraction", "rouge_threshold")


def check_numbers(args: argparse.Namespace) -> None:
    """One line for the first numeric flag out of range (or not finite), before any work: `--steps 0` used to
    train 3 epochs (loss-side) or save an untrained model and crash (online)."""
    import math

    for name, value in vars(args).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise SftkitError(f"{flag} must be a finite number, got {value}")
        if name in _AT_LEAST_1 and value < 1:
            raise SftkitError(f"{flag} must be at least 1, got {value}")
        if name in _AT_LEAST_0 and value < 0:
            raise SftkitError(f"{flag} must be 0 or more, got {value}")
        if name in _ABOVE_0 and value <= 0:
            raise SftkitError(f"{flag} must be above 0, got {value}")
        if name in _FROM_0_TO_1 and not 0 <= value <= 1 or name == "top_p" and value == 0:
            raise SftkitError(f"{flag} must be between 0 and 1, got {value}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(with_methods=bool({"train", "generate"} & set(argv[:1]))).parse_args(argv)
    if getattr(args, "output", "") is None and args.command == "pretrain":
        from .model import TINY_BASE

        args.output = str(TINY_BASE)
    ok = False
    try:
        check_numbers(args)
        code = args.func(args) or 0
        ok = True
        return code
    except SftkitError as e:
        print(f"sftkit: error: {e}", file=sys.stderr)
        return 2
    finally:
        if "torch" in sys.modules:  # a command that trained under torchrun: close its process group
            from .train import end_distributed

            end_distributed(ok)


if __name__ == "__main__":
    sys.exit(main())
