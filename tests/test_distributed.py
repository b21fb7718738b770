"""Several processes (torchrun / accelerate launch, gloo on the CPU): the samplers shard each pass without
repeats, two processes with batch B/2 train like one with batch B, only the main process writes and prints,
and a killed run resumes.

The sampler tests deal batches out with accelerate's own `BatchSamplerShard` (num_processes / process_index
given explicitly), as `accelerator.prepare` does under a launcher; the others launch 2 real processes. Run as a
script (`torchrun --nproc_per_node 2 tests/test_distributed.py OUT MODEL DATA`), this file is their worker.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sftkit.methods.sftmix import BalancedSampler
from sftkit.train import BucketSampler

pytestmark = pytest.mark.slow  # kernels, subprocesses and notebooks: `make test` runs them, the quick loop does not

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "data" / "world" / "train.jsonl"
BATCH = 8  # one process; two processes take BATCH // 2 each
STEPS = 4
FIRST_LOSS_RTOL = 1e-6  # the first step's loss, 2 processes vs 1 (measured: equal)
WEIGHTS_ATOL = 1e-6  # every weight after STEPS steps, 2 processes vs 1 (measured: 4e-9; training moved them 4e-4)

gloo = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                          reason="torch.distributed with gloo is not available")


def rank_order(sampler, batch_size: int, num_replicas: int, rank: int) -> list[list[int]]:
    """The batches process `rank` of `num_replicas` gets from `sampler`, dealt as accelerate deals them."""
    from accelerate.data_loader import BatchSamplerShard

    batches = torch.utils.data.BatchSampler(sampler, batch_size, drop_last=False)
    return list(BatchSamplerShard(batches, num_processes=num_replicas, process_index=rank))


def lengths(n: int) -> list[int]:
    return [5 + (i * 7) % 23 for i in range(n)]


@pytest.mark.parametrize("n,batch_size,num_replicas", [(37, 4, 2), (40, 4, 2), (50, 3, 3)])
def test_bucket_sampler_shards_each_pass_without_repeats(n, batch_size, num_replicas):
    """Every example once per pass, none dropped but the last partial global batch; the processes' batches of
    step k together are batch k of one process with batch num_replicas * batch_size."""
    single = BucketSampler(lengths(n), batch_size * num_replicas, bucket=2, seed=3)
    for epoch in (0, 1):
        ranks = []
        for rank in range(num_replicas):
            sampler = BucketSampler(lengths(n), batch_size, bucket=2, seed=3, num_replicas=num_replicas)
            sampler.set_epoch(epoch)
            ranks.append(rank_order(sampler, batch_size, num_replicas, rank))
        seen = [i for batches in ranks for b in batches for i in b]
        assert len(seen) == len(set(seen)) and n - len(seen) < batch_size * num_replicas
        assert len({len(batches) for batches in ranks}) == 1  # every process steps equally often
        single.set_epoch(epoch)
        whole = list(torch.utils.data.BatchSampler(single, batch_size * num_replicas, drop_last=False))
        for step, together in enumerate(zip(*ranks)):
            assert [i for b in together for i in b] == whole[step]


def test_bucket_sampler_order_depends_only_on_seed_and_epoch():
    def order(seed, epoch, rank):
        sampler = BucketSampler(lengths(40), 4, seed=seed, num_replicas=2)
        sampler.set_epoch(epoch)
        return rank_order(sampler, 4, 2, rank)

    assert order(0, 1, 0) == order(0, 1, 0) and order(0, 1, 1) == order(0, 1, 1)
    assert order(0, 1, 0) != order(0, 2, 0) and order(0, 1, 0) != order(1, 1, 0)


@pytest.mark.parametrize("num_replicas", [2, 3])
def test_balanced_sampler_gives_every_process_balanced_batches_of_the_single_runs_pairs(num_replicas):
    n, batch_size = 45, 4
    confident = [(i * 5) % 3 == 0 for i in range(n)]  # 15 confident, 30 unconfident
    single = BalancedSampler(confident, batch_size * num_replicas, seed=1, lengths=lengths(n), bucket=2)
    single.set_epoch(2)
    whole = list(torch.utils.data.BatchSampler(single, batch_size * num_replicas, drop_last=False))
    ranks = []
    for rank in range(num_replicas):
        sampler = BalancedSampler(confident, batch_size, seed=1, lengths=lengths(n), bucket=2,
                                  num_replicas=num_replicas)
        sampler.set_epoch(2)
        ranks.append(rank_order(sampler, batch_size, num_replicas, rank))
    seen = [i for batches in ranks for b in batches for i in b]
    assert len(seen) == len(set(seen))
    assert sum(confident) - sum(confident[i] for i in seen) < batch_size // 2 * num_replicas
    half = batch_size // 2
    for step, together in enumerate(zip(*ranks)):
        for b in together:
            assert all(confident[i] for i in b[:half]) and not any(confident[i] for i in b[half:])
        pairs = {(b[k], b[half + k]) for b in together for k in range(half)}
        big = len(whole[step]) // 2
        assert pairs == {(whole[step][k], whole[step][big + k]) for k in range(big)}


def test_online_methods_refuse_several_processes_in_one_line(tmp_path, capsys, monkeypatch):
    from sftkit.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "superhf", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "online method and trains in one process only" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("method", ["ppo", "superhf"])
def test_online_loops_refuse_several_processes_from_python_too(method, monkeypatch):
    """`sftkit.methods.ppo.PPO(...)` / `superhf.SuperHF(...)` called from a script under a launcher: one clear
    error before any work (each process would otherwise run the whole loop alone and write the same files)."""
    from sftkit.io import SftkitError

    loop = {"ppo": "PPO", "superhf": "SuperHF"}[method]
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SftkitError, match=f"{loop} is an online method and trains in one process only"):
        getattr(importlib.import_module(f"sftkit.methods.{method}"), loop)(None, None, [], None)


@gloo
def test_online_method_under_torchrun_stops_at_once_with_one_line(tmp_path):
    """A real `torchrun --nproc_per_node 2 -m sftkit train ppo`: the processes stop with the one line, no hang
    and no output directory. torchrun stops the other rank as soon as one exits with an error, so the other
    rank may be stopped before it prints: at least one line, at most one per process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "sftkit", "train", "ppo", "--output", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert 1 <= (out.stdout + out.stderr).count("ppo is an online method and trains in one process only") <= 2
    assert not (tmp_path / "out").exists()


def test_ddp_is_told_of_unused_weights_only_for_ifts_untied_input_table():
    """Plain SFT uses every weight; IFT feeds the model embeddings from a frozen copy, so its own input table
    gets a gradient only through a tied output layer, and not at all when LoRA freezes it."""
    from sftkit.methods.ift import input_table_unused
    from sftkit.model import add_lora
    from sftkit.pretrain import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 2}
    tied = build_tiny_model(tok, tie_word_embeddings=True, **small)
    untied = build_tiny_model(tok, tie_word_embeddings=False, **small)
    assert not input_table_unused(tied) and input_table_unused(untied)
    assert not input_table_unused(add_lora(untied, r=2))


def launch(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 ARGS` with this checkout's sftkit, quietly."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def records() -> list[dict]:
    with open(TRAIN) as f:
        return [json.loads(next(f)) for _ in range(48)]


@gloo
def test_two_processes_train_like_one_and_resume_after_a_kill(tmp_path, random_models):
    """2 processes with batch B/2 vs 1 with batch B: the same first loss and, after STEPS steps, the same
    weights; a 2-process CLI run killed after its checkpoint resumes from it, ending with the uninterrupted
    run's weights; only rank 0 prints its line and DDP runs without find_unused_parameters."""
    from sftkit.model import load_model
    from sftkit.train import TrainConfig, train

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records()))
    launch([__file__, str(tmp_path), random_models["llama"], str(data)])
    model, tok = load_model(random_models["llama"])
    start = [param.detach().clone() for param in model.parameters()]
    one = train(model, tok, records(), TrainConfig(steps=STEPS, batch_size=BATCH, logging_steps=1))
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["first_loss"] == pytest.approx(one.history[0]["loss"], rel=FIRST_LOSS_RTOL)
    weights = torch.load(tmp_path / "two.pt")
    moved = max((param - before).abs().max().item() for param, before in zip(one.model.parameters(), start))
    assert moved > 100 * WEIGHTS_ATOL  # the comparison below is not trivially true
    for name, param in one.model.state_dict().items():
        torch.testing.assert_close(weights[name], param, atol=WEIGHTS_ATOL, rtol=0, msg=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.checkpoints", "train.jsonl", "two.json", "two.pt"]

    out = launch(["-m", "sftkit", "train", "sft", "--model", random_models["llama"], "--data", str(data), "--output",
                  str(tmp_path / "model"), "--steps", str(STEPS), "--batch-size", str(BATCH // 2), "--save-steps", "2"])
    assert out.stdout.count("saved") == 1 and "find_unused_parameters" not in out.stderr
    log = json.loads((tmp_path / "model" / "train_log.json").read_text())
    # the killed run logged every step and its checkpoint brought that interval back: a fresh start logs no loss
    assert [h["step"] for h in log["history"] if "loss" in h] == [1, 2, 3, 4]  # (4 steps < its interval of 10)
    resumed, _ = load_model(str(tmp_path / "model"))
    for name, param in resumed.state_dict().items():
        torch.testing.assert_close(param, weights[name], msg=name)  # the same processes: the same numbers


@gloo
def test_accelerate_launch_with_the_shipped_config_runs_two_processes(tmp_path, random_models):
    """`accelerate launch --config_file configs/accelerate-cpu-2.yaml ... sftkit train sft` (README, More than one
    machine): 2 processes, not one. (accelerate 1.16's `--num_processes 2 --cpu` starts a single process: its
    simple launcher spreads CPU processes only through mpirun.) World size 2 in the log, and 2 steps of batch 4
    in each of 2 processes read 16 of the 48 rows (one process: 8); one line printed, one model saved."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records()))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                          str(REPO / "configs" / "accelerate-cpu-2.yaml"), "-m", "sftkit", "train", "sft", "--model",
                          random_models["llama"], "--data", str(data), "--output", str(tmp_path / "model"), "--steps",
                          "2", "--batch-size", "4", "--save-steps", "0"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("saved") == 1
    log = json.loads((tmp_path / "model" / "train_log.json").read_text())
    assert log["world_size"] == 2
    assert log["history"][-1]["epoch"] == pytest.approx(2 * 2 * 4 / 48)


def worker(out: Path, model_path: str, data: str) -> None:
    """Under torchrun: an uninterrupted 2-process run (rank 0 saves its first loss and weights), then a run with
    the CLI's settings killed at step 3, after its checkpoint at step 2."""
    from sftkit.data import load_conversations
    from sftkit.model import load_model
    from sftkit.train import Progress, TrainConfig, is_main_process, train

    rows = load_conversations(data)
    model, tok = load_model(model_path)
    result = train(model, tok, rows, TrainConfig(steps=STEPS, batch_size=BATCH // 2, logging_steps=1))
    if is_main_process():
        torch.save(result.model.state_dict(), out / "two.pt")
        (out / "two.json").write_text(json.dumps({"first_loss": result.history[0]["loss"]}))

    class Killed(Exception):
        pass

    def kill_at_step_3(self, args, state, control, **kw):
        if state.global_step == 3:
            raise Killed

    Progress.on_step_end = kill_at_step_3
    model, tok = load_model(model_path)
    try:
        train(model, tok, rows, TrainConfig(steps=STEPS, batch_size=BATCH // 2, save_steps=2, logging_steps=1,
                                            extra={"method": "sft"}),  # the CLI's settings: its checkpoint resumes
              output_dir=str(out / "model.checkpoints"))
    except Killed:
        pass


if __name__ == "__main__":
    from sftkit.train import end_distributed

    worker(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
    end_distributed()
