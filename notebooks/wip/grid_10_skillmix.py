"""Notebook 10's full grid, run ahead of the notebook with the notebook's own code (run_or_reuse saves as it goes)."""
import fcntl, time, sys
from dataclasses import replace
from sftkit import results
from sftkit.experiment import BASELINE, run_or_reuse
from sftkit.methods import skillmix as sm
from sftkit.teachers import teacher_from
from sftkit.model import load_model

NB = "10_skillmix"
CONFIG = replace(BASELINE, steps=200, batch_size=16, lr=2e-3)
SIZES = (1000, 2000, 4000)
SEEDS = (0, 1, 2)
SHIRKERS = (0.1, 0.2, 0.4)
teacher = teacher_from("scripted", 0.2, 0.05, seed=0)
POOLS = sm.pools(teacher, max(SIZES))
TEST = sm.test_records({sm.pair_of(r) for r in POOLS["skillmix"]})
_, tok = load_model("tiny")
MAX_NEW = max(len(tok(r["messages"][1]["content"], add_special_tokens=False)["input_ids"]) for r in TEST) + 8
print("max new tokens", MAX_NEW, "test", len(TEST), flush=True)
jobs = [("skillmix", "k=2,n=1000", POOLS["skillmix"][:1000]), ("single-skill", "k=1,n=1000", POOLS["single"][:1000])]
for f in SHIRKERS:
    jobs.append(("skillmix", f"k=2,n=1000,junk={f}", sm.shirk(POOLS["skillmix"][:1000], teacher, f, "junk", 0)))
for n in SIZES[1:]:
    jobs += [("skillmix", f"k=2,n={n}", POOLS["skillmix"][:n]), ("single-skill", f"k=1,n={n}", POOLS["single"][:n])]
rows = []
for method, variant, data in jobs:
    for s in SEEDS:
        with open("/tmp/torch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            t = time.time()
            new = run_or_reuse(NB, method, variant, data, (s,), CONFIG, eval_records=TEST, max_new_tokens=MAX_NEW,
                               check=sm.correct)
        rows = [r for r in rows if not (r["method"] == method and r["variant"] == variant and r["seed"] == s)] + new
        results.save(NB, rows + [r for r in results.load() if r["notebook"] == NB and (r["method"], r["variant"], r["seed"]) not in {(x["method"], x["variant"], x["seed"]) for x in rows}])
        acc = {r["split"]: r["accuracy"] for r in new if r["skill"] == "all"}
        print(method, variant, s, f"{time.time()-t:.0f}s", acc, flush=True)
