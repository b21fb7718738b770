# %% [markdown]
# # 04 · Intuitive Fine-Tuning on FrozenLake: what does a policy learn off the demonstrated path?
#
# **Paper:** Ermo Hua et al., *Intuitive Fine-Tuning: Towards Simplifying Alignment into a Single Process*,
# arXiv [2405.11870](https://arxiv.org/abs/2405.11870) (code: TsinghuaC3I/Intuitive-Fine-Tuning), section 5.3.
#
# The paper argues that SFT only teaches a model *what to do on the demonstrated path*, while preference
# methods (DPO) also teach it *how good other paths are*. To make this visible it trains a small policy on
# Gymnasium's FrozenLake, where the optimal policy is known exactly, and measures how far each learned
# policy's **state-transition matrix** is from the optimal one.
#
# **What you will learn**
# - how to get the exact optimal policy of a small MDP by value iteration, and roll out demonstrations in
#   the real Gymnasium environment;
# - how IFT's two ideas (temporal residual connection, relation propagation) map from tokens onto states;
# - SFT vs IFT vs DPO (and ORPO) on the same policy network: transition-matrix MSE, success rates on the
#   deterministic and the slippery lake, and which cells each policy visits.
#
# **Runtime:** about 1-2 minutes on 2 CPU cores (everything is a 2-layer MLP on a 30-cell lake); a GPU brings
# nothing here.

# %% [markdown]
# The next cell holds the settings (tagged `parameters`, so papermill or you can change them).

# %% tags=["parameters"]
SEEDS = (0, 1, 2, 3, 4)   # policy initialisations
STEPS = 300               # full-batch Adam steps per policy (same budget for every method)
LR = 1e-2
LAMBDA = 0.2              # IFT temporal-residual weight (the paper's value)
GAMMA_IFT = 0.95          # IFT relation-propagation decay (the paper's value)
BETA = 0.1                # DPO / ORPO strength
EPISODES = 200            # sampled episodes per policy and lake for success rates and heatmaps
DEVICE = "cpu"            # the MLP is tiny: the CPU is the right device

# %%
# %matplotlib inline
import os
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen

import numpy as np
import torch
import matplotlib.pyplot as plt

from sftkit import results
from sftkit.labs import frozenlake as fl
from sftkit.results import fmt_mean_std, mean_std
from sftkit.stats import RULE, compare_means
from sftkit.train import progress

torch.set_num_threads(1)  # for a 64-unit MLP one thread is faster than two busy ones
torch.manual_seed(0)
np.random.seed(0)
N_STATES = len(fl.MAP) * len(fl.MAP[0])
WHY = "a per-seed metric with no items"  # verdicts compare seed means (sftkit.stats.compare_means)

# %% [markdown]
# ## 1. The lake: one short route and one long detour
#
# `S` start, `F` frozen (safe), `H` hole (episode ends, reward 0), `G` goal (reward 1). From the start the
# agent can go **right** along the top (7 moves) or **down** the left column, along the bottom and up the right
# column (11 moves). Left: Gymnasium's own rendering (`render_mode="rgb_array"`); right: the same grid as we
# will draw policies on.

# %%
# NBVAL_CHECK_OUTPUT
env = fl.make_env(render=True)
env.reset(seed=0)
frame = env.render()
env.close()
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
axes[0].imshow(frame); axes[0].axis("off"); axes[0].set_title("Gymnasium FrozenLake-v1 (custom desc)", fontsize=9)
fl.draw_grid(fl.MAP, axes[1], title="the same map")
plt.show()
print("\n".join(fl.MAP), f"\n{N_STATES} states, frame {frame.shape}")

# %% [markdown]
# ## 2. The optimal policy, exactly
#
# With the environment's dynamics `P(s' | s, a)` read from Gymnasium (`env.unwrapped.P`) and a discount of
# 0.9, value iteration gives `V*(s)`; the optimal policy picks the best action, splitting probability evenly
# where two actions are equally good. On the deterministic lake a cell `k` moves from the goal is worth
# `0.9^(k-1)`.

# %%
# NBVAL_CHECK_OUTPUT
V, Q = fl.value_iteration(fl.MAP, gamma=0.9)
PI_STAR = fl.optimal_policy(fl.MAP, gamma=0.9)
print(np.round(V.reshape(len(fl.MAP), -1), 3))
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
fl.draw_grid(fl.MAP, axes[0], values=V.reshape(len(fl.MAP), -1), title="V*(s)", cmap="viridis")
fl.draw_policy(PI_STAR, fl.MAP, axes[1], title="optimal policy π* (arrow length = probability)")
plt.show()

# %% [markdown]
# Note what the optimal policy does along the detour: in the first cell below the start it says *go back
# up*; in the next cell down, going up and going down are equally good (a tie, so π* splits its probability);
# from the cell below that on, *continuing the detour* is optimal. The detour is only sub-optimal as a whole,
# from the start. The cell after the demonstrations checks this move by move.
#
# ## 3. Demonstrations, rolled out in Gymnasium
#
# The optimal (chosen) trajectory is the optimal policy played greedily. The sub-optimal (rejected) one is
# the optimal policy of the same map with a hole dropped on the top route, played on the real map.

# %%
# NBVAL_CHECK_OUTPUT
BEST, DETOUR = fl.demonstrations(fl.MAP)
for name, ep in [("optimal", BEST), ("sub-optimal", DETOUR)]:
    cells = [divmod(s, len(fl.MAP[0])) for s in ep["states"]]
    print(f"{name:12s} {len(ep['actions']):2d} moves, reward {ep['reward']}: "
          + "".join(fl.ACTIONS[a] for a in ep["actions"]), cells)

# %%
# How wrong is each move of the rejected detour? π*(its move | its cell), step by step
p_move = PI_STAR[DETOUR["states"][:-1], DETOUR["actions"]]
print("step  cell     move  π*(move)")
for t, (s, a) in enumerate(zip(DETOUR["states"], DETOUR["actions"])):
    print(f"{t:4d}  {divmod(s, len(fl.MAP[0]))}  {fl.ACTIONS[a]}     {p_move[t]:.2f}")
print(f"moves π* never makes: {int((p_move == 0).sum())} of {len(p_move)} (steps {np.flatnonzero(p_move == 0).tolist()}); "
      f"ties: {int(((p_move > 0) & (p_move < 1)).sum())}; moves π* always makes: {int((p_move == 1).sum())}")
standable = {s for s in range(N_STATES) if fl.MAP[s // len(fl.MAP[0])][s % len(fl.MAP[0])] in "SF"}
ON_ROUTE = sorted(set(BEST["states"][:-1]))
DETOUR_ONLY = sorted(set(DETOUR["states"][:-1]) - set(ON_ROUTE))
print(f"cells an agent can stand on: {len(standable)}; on the optimal route: {len(ON_ROUTE)}; "
      f"only on the detour: {len(DETOUR_ONLY)}; on neither: {len(standable - set(ON_ROUTE) - set(DETOUR_ONLY))}")

# %% [markdown]
# ## 4. Four ways to learn from them
#
# The learner is a 2-layer MLP (30 → 64 → 4) fed the **one-hot vector of the cell**. Every method starts from
# the same initialisation for a given seed and gets the same number of full-batch Adam steps.
#
# - **SFT** (behaviour cloning): `-log π(a_t | s_t)` averaged over the optimal trajectory.
# - **IFT**, mapped onto states (the tutorial's choice; the paper does not spell out the mapping):
#   - *temporal residual connection*: a language model's input at position t is the embedding of the
#     previous token; IFT mixes it with the embedding of the model's own guess of that token. Here the input
#     at step t is the state, and the "guess" of it is where the policy's own action at the previous state
#     would have led: `x_t = (1 - λ) onehot(s_t) + λ Σ_a π(a | s_(t-1)) onehot(next(s_(t-1), a))`, computed in
#     a no-grad first pass (`x_0 = onehot(s_0)`). The one-hot vector is a fixed embedding, so unlike the
#     language model there is no embedding copy to freeze.
#   - *relation propagation*: each step's loss is re-weighted by the discounted sum of the losses after it
#     (γ = 0.95), rescaled to sum to the trajectory length: exactly `sftkit.methods.ift.relation_weights`, shared
#     with the language-model version.
# - **DPO**: optimal trajectory as chosen, detour as rejected; trajectory log-probability = sum of step
#   log-probabilities; reference = the starting policy. We run it twice: from the random initialisation
#   (same budget as the others), and as the usual recipe **SFT → DPO** (SFT policy as start and reference;
#   twice the steps).
# - **ORPO** (optional in the paper's comparison): SFT on chosen plus an odds-ratio term against rejected.
#
# The next cell shows what IFT actually feeds the network at each step of the demonstration, for an
# untrained policy (a near-uniform one, so λ is spread over the neighbours of the previous cell).

# %%
# NBVAL_CHECK_OUTPUT
batch = fl.batch_trajectories([BEST])
next_state = torch.tensor(fl.transition_tensor(fl.MAP)[0].argmax(-1))
x = fl.fused_states(fl.mlp_policy(N_STATES, seed=0), batch["states"], next_state, N_STATES, LAMBDA)[0]
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6))
for ax, t in zip(axes, (0, 1, 3, 5)):
    fl.draw_grid(fl.MAP, ax, values=x[t].reshape(len(fl.MAP), -1).numpy(), title=f"IFT input at step {t}", cmap="Blues")
plt.show()
print("mass on the true state per step:", np.round(x[torch.arange(x.shape[0]), batch["states"][0]].numpy(), 2))

# %% [markdown]
# ### Training every method on every seed
#
# The loss curves below share one axis; where two objectives give almost the same curve, the markers and
# line styles keep each one visible (for `sft→dpo` the curve is its DPO phase, after SFT's steps).

# %%
RUNS = {"sft": {}, "ift": {}, "dpo": {}, "sft→dpo": {}, "orpo": {}}
common = dict(desc=fl.MAP, steps=STEPS, lr=LR, lam=LAMBDA, gamma=GAMMA_IFT, beta=BETA)
for seed in progress(SEEDS, desc="seeds"):
    for method in ("sft", "ift", "dpo", "orpo"):
        RUNS[method][seed] = fl.train_policy(method, [BEST], [DETOUR], seed=seed, **common)
    RUNS["sft→dpo"][seed] = fl.train_policy("dpo", [BEST], [DETOUR], seed=seed, init=RUNS["sft"][seed][0], **common)
TABLES = {m: {s: fl.policy_table(p, N_STATES) for s, (p, _) in runs.items()} for m, runs in RUNS.items()}

STYLE = {"sft": ("-", "o"), "ift": ("--", "s"), "dpo": ("-.", "^"), "sft→dpo": (":", "v"), "orpo": ((0, (6, 2)), "x")}
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for i, (m, runs) in enumerate(RUNS.items()):
    ls, marker = STYLE[m]
    ax.plot(np.mean([l for _, l in runs.values()], 0), ls=ls, marker=marker, markevery=(6 * i, 30), ms=6,
            mfc="none", lw=1.6, alpha=0.85, label=m)
ax.set(yscale="log", xlabel="step", ylabel="loss (mean over seeds)", title="training losses (different objectives)")
ax.legend(fontsize=8, ncol=2); plt.show()

# %% [markdown]
# ## 5. Metrics
#
# - **transition MSE**: mean over all (s, s') of `(P_π(s, s') - P_π*(s, s'))²` on the deterministic lake,
#   where `P_π(s, s') = Σ_a π(a|s) P(s'|s, a)`: the paper's metric. It looks at *every* cell, including the
#   ones the demonstration never visits.
# - **success**: share of episodes (actions sampled from the policy, at most 100 moves) that reach the goal
#   in the real Gymnasium environment, on the deterministic lake and on the slippery one
#   (`is_slippery=True`: the intended move happens with probability 1/3, each perpendicular one with 1/3).
#   The narrow corridors between holes make the slippery lake very hard: as a ceiling we also show the policy
#   that is optimal *for the slippery lake* (value iteration on its dynamics).

# %%
PI_SLIP = fl.optimal_policy(fl.MAP, gamma=0.9, slippery=True)
METRICS = {}
EVALS = {}
for m, tables in progress(TABLES.items(), desc="evaluating"):
    for s, probs in tables.items():
        det = fl.evaluate_policy(probs, fl.MAP, slippery=False, episodes=EPISODES, seed=s)
        slip = fl.evaluate_policy(probs, fl.MAP, slippery=True, episodes=EPISODES, seed=s)
        EVALS[m, s] = (det, slip)
        METRICS.setdefault(m, []).append({"mse": fl.transition_mse(probs, PI_STAR, fl.MAP),
                                          "det": det["success"], "slip": slip["success"]})
REFS = {"optimal π* (deterministic lake)": PI_STAR, "optimal for the slippery lake": PI_SLIP,
        "uniform random": np.full_like(PI_STAR, 0.25)}
ref_rows = {name: {"mse": fl.transition_mse(p, PI_STAR, fl.MAP),
                   "det": fl.evaluate_policy(p, fl.MAP, False, EPISODES)["success"],
                   "slip": fl.evaluate_policy(p, fl.MAP, True, EPISODES)["success"]} for name, p in REFS.items()}

print(f"{'policy':32s} {'transition MSE (x1e3)':>22s} {'success det %':>15s} {'success slippery %':>19s}")
for m, rows in METRICS.items():
    mse = [1e3 * r["mse"] for r in rows]
    print(f"{m + f' ({len(rows)} seeds)':32s} {fmt_mean_std(mse, percent=False):>22s} "
          f"{fmt_mean_std([r['det'] for r in rows]):>15s} {fmt_mean_std([r['slip'] for r in rows]):>19s}")
for name, r in ref_rows.items():
    print(f"{name:32s} {1e3 * r['mse']:>22.2f} {100 * r['det']:>15.1f} {100 * r['slip']:>19.1f}")

# %% [markdown]
# ## 6. What each policy learned, cell by cell
#
# Arrows: the policy of seed 0 (red = the most likely action). Off the demonstrated path nothing in SFT's
# data says what to do; whatever it does there comes from how the network generalises from the path.

# %%
names = ["optimal"] + list(TABLES)
fig, axes = plt.subplots(2, 3, figsize=(12, 6.2))
for ax, name in zip(axes.flat, names):
    probs = PI_STAR if name == "optimal" else TABLES[name][SEEDS[0]]
    mse = 0.0 if name == "optimal" else fl.transition_mse(probs, PI_STAR, fl.MAP)
    fl.draw_policy(probs, fl.MAP, ax, title=f"{name}  (MSE {1e3 * mse:.2f}e-3)")
plt.tight_layout(); plt.show()

# %% [markdown]
# Where does the transition MSE come from? Per cell, the squared difference of the rows of the transition
# matrices (summed over next cells, mean over seeds):

# %%
P_star = fl.policy_transition_matrix(PI_STAR, fl.MAP)
ERR = {m: np.mean([((fl.policy_transition_matrix(p, fl.MAP) - P_star) ** 2).sum(1) for p in tables.values()], 0)
       for m, tables in TABLES.items()}
top = max(e.max() for e in ERR.values())  # one colour scale for every panel
fig, axes = plt.subplots(1, len(ERR), figsize=(3.1 * len(ERR), 2.6), layout="constrained")
for ax, (m, err) in zip(axes, ERR.items()):
    fl.draw_grid(fl.MAP, ax, values=err.reshape(len(fl.MAP), -1), title=f"{m}: error per cell", cmap="Reds",
                 vmin=0, vmax=top, colorbar=False)
fig.colorbar(axes[0].images[0], ax=axes, fraction=0.02, label="Σ_s' (P_π − P_π*)²")
plt.show()

# %% [markdown]
# ### Worse than a uniform random policy?
#
# The table in section 5 lists the uniform random policy (every move with probability 1/4) among the
# references. The next cell puts it, and the optimal policy (MSE 0 by definition), beside each method's mean ±
# std, splits every policy's MSE by where it comes from (the cells of the optimal route, the cells only the
# detour visits, and the rest: holes and the goal, where every policy's row is the same), and gives each
# method's verdict against the uniform policy (higher MSE is worse).

# %%
UNIFORM = np.full_like(PI_STAR, 0.25)
REF_POLICIES = {"uniform random": UNIFORM, "optimal π*": PI_STAR}
CELLS = {"optimal route": ON_ROUTE, "detour only": DETOUR_ONLY}


def mse_parts(probs):
    """The transition MSE (x1e3), its share from each group of cells, and π's mass on π*'s moves in detour cells (%)."""
    err = ((fl.policy_transition_matrix(probs, fl.MAP) - P_star) ** 2).sum(1) / N_STATES ** 2
    rest = sorted(set(range(N_STATES)) - set(ON_ROUTE) - set(DETOUR_ONLY))
    parts = {**{k: 1e3 * err[c].sum() for k, c in CELLS.items()}, "rest": 1e3 * err[rest].sum()}
    return {"MSE x1e3": 1e3 * fl.transition_mse(probs, PI_STAR, fl.MAP), **parts,
            "π on π* moves %": 100 * (probs * (PI_STAR > 0)).sum(1)[DETOUR_ONLY].mean()}


PARTS = {m: [mse_parts(p) for p in tables.values()] for m, tables in TABLES.items()}
cols = list(PARTS["sft"][0])
pm = lambda v: "{:.2f} ± {:.2f}".format(*mean_std(v))
print(f"{'':16s}" + "".join(f"{c:>17s}" for c in cols))
for m, parts in PARTS.items():
    print(f"{m:16s}" + "".join(f"{pm([p[c] for p in parts]):>17s}" for c in cols))
for name, probs in REF_POLICIES.items():
    print(f"{name:16s}" + "".join(f"{v:>17.2f}" for v in mse_parts(probs).values()))
print("(the MSE's parts, x1e3, add up to it; the last column is a mean over the detour-only cells)")
print(RULE)
uniform_parts = mse_parts(UNIFORM)
for part in ("MSE x1e3", "detour only"):
    print(f"Verdicts on {'the transition MSE' if part == 'MSE x1e3' else 'its detour-only part'} (above = worse than uniform random):")
    for m, parts in PARTS.items():
        c = compare_means([p[part] / 1e3 for p in parts], [uniform_parts[part] / 1e3], why=WHY)
        print("  " + c.sentence(m, "the uniform random policy", unit="×1e-3", scale=1e3))

# %%
# One row of the transition matrix: bottom-row cell (4, 2), where π* goes right
cell = 4 * len(fl.MAP[0]) + 2
row_err = lambda probs: ((fl.policy_transition_matrix(probs, fl.MAP) - P_star)[cell] ** 2).sum()
sure_left = np.tile(np.eye(4)[0], (N_STATES, 1))
print(f"π*(· | (4, 2)) = {PI_STAR[cell]}; squared error of the row: uniform random {row_err(UNIFORM):.2f}, "
      f"a policy sure of ← {row_err(sure_left):.2f}")
start = {s: fl.mlp_policy(N_STATES, seed=s) for s in SEEDS}  # the initial policy of every fresh run
logp = lambda policy, traj: fl.trajectory_logprob(policy, fl.batch_trajectories([traj]), N_STATES).item()
for m in ("dpo", "orpo"):
    with torch.no_grad():
        shift = {name: np.mean([logp(p, traj) - logp(start[s], traj) for s, (p, _) in RUNS[m].items()])
                 for name, traj in (("chosen", BEST), ("rejected", DETOUR))}
    print(f"{m}: change of the trajectory log-probability from the initial policy (mean over seeds): "
          f"chosen {shift['chosen']:+.1f}, rejected {shift['rejected']:+.1f}")

# %% [markdown]
# **Why a trained policy can lose to a random one here.** The metric compares whole rows of the transition
# matrix, so hedging is cheap and a confident wrong move is expensive: the row printed for cell (4, 2) shows
# what the uniform policy pays there next to what a policy sure of a wrong move pays. Every cell an agent can
# stand on lies on one of the two routes (section 3), so the only cells where the methods can differ from π*
# off the optimal route are the detour's, and there:
#
# - SFT and IFT never see those cells; their moves there come from how the network generalises, and the
#   "detour only" column shows what that costs them next to the uniform policy.
# - DPO and ORPO see those cells only as the rejected trajectory, whose moves they push down all alike; but
#   most of those moves are π*'s own (the table in section 3). The column "π on π* moves" shows how much
#   probability each method leaves on π*'s moves in the detour's cells, next to the uniform policy's value in
#   the same column: pushing the detour down pushes the optimal moves down and makes the policy confident
#   of wrong ones, which is what the metric punishes most.
# - DPO from the random initialisation is scored only on the *margin* between chosen and rejected, and the
#   printed log-probability changes show which side it moved to win it; its "optimal route" column is the
#   price of leaving the chosen moves where the random start put them (compare its deterministic success in
#   section 5).
#
# The verdicts above say which methods this puts above (worse than) the uniform random policy, on all cells
# and on the detour's cells alone. Being worse than random on this metric does not make a policy useless at
# the task: the success columns of section 5 measure that separately.

# %% [markdown]
# ## 7. Which cells do the policies visit?
#
# Mean visits per episode (actions sampled from each policy, all seeds pooled), on a log scale shared by every
# panel: the lowest colour, -3, means never visited.

# %%
VISITS = {(m, lake): np.log10(np.mean([EVALS[m, s][i]["visits"] for s in SEEDS], 0) + 1e-3)
          for m in TABLES for i, lake in enumerate(("deterministic", "slippery"))}
top = max(v.max() for v in VISITS.values())  # one colour scale for every panel
fig, axes = plt.subplots(2, len(TABLES), figsize=(3.1 * len(TABLES), 5), layout="constrained")
for (m, lake), v in VISITS.items():
    ax = axes[int(lake == "slippery"), list(TABLES).index(m)]
    fl.draw_grid(fl.MAP, ax, values=v, title=f"{m}, {lake}", vmin=-3, vmax=top, colorbar=False)
fig.colorbar(axes[0, 0].images[0], ax=axes, fraction=0.02, label="log10(mean visits per episode + 0.001)")
plt.show()

# %% [markdown]
# ## 8. Step through a rollout
#
# Pick a method, a seed and a lake; the slider walks through one sampled episode rendered by Gymnasium.

# %%
import ipywidgets as W
from IPython.display import display

FRAMES = {}

def frames_for(method, seed, slippery, episode):
    key = (method, seed, slippery, episode)
    if key not in FRAMES:
        FRAMES[key] = fl.rollout(TABLES[method][seed], fl.MAP, slippery, seed=episode, render=True, max_steps=40)
    return FRAMES[key]

method_w = W.Dropdown(options=list(TABLES), value="ift", description="method")
seed_w = W.Dropdown(options=list(SEEDS), value=SEEDS[0], description="seed")
slip_w = W.Checkbox(value=False, description="slippery")
episode_w = W.IntText(value=0, description="episode")
step_w = W.IntSlider(value=0, min=0, max=1, description="step")
out = W.Output()

def show(*_):
    ep = frames_for(method_w.value, seed_w.value, slip_w.value, episode_w.value)
    step_w.max = len(ep["frames"]) - 1
    t = min(step_w.value, step_w.max)
    with out:
        out.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(3.6, 3.2))
        ax.imshow(ep["frames"][t]); ax.axis("off")
        move = fl.ACTIONS[ep["actions"][t - 1]] if t else "start"
        ax.set_title(f"step {t}/{len(ep['actions'])} ({move}), reward {ep['reward'] if t == len(ep['actions']) else 0}", fontsize=9)
        plt.show()

for w in (method_w, seed_w, slip_w, episode_w, step_w):
    w.observe(show, names="value")
display(W.VBox([W.HBox([method_w, seed_w]), W.HBox([slip_w, episode_w]), step_w, out]))
show()

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows it as one grey line). Below is the episode it starts on, every step side by side; run the notebook to explore.

# %%
ep = frames_for("ift", SEEDS[0], False, 0)  # the player's first episode, every step side by side
n = min(len(ep["frames"]), 12)
fig, axes = plt.subplots(1, n, figsize=(1.5 * n, 1.9), squeeze=False)
for t, ax in enumerate(axes[0]):
    ax.imshow(ep["frames"][t]); ax.axis("off")
    ax.set_title("start" if t == 0 else f"{t}: {fl.ACTIONS[ep['actions'][t - 1]]}", fontsize=8)
fig.suptitle(f"IFT policy, seed {SEEDS[0]}, not slippery, episode 0: reward {ep['reward']}"
             + (f" (first {n} of {len(ep['frames'])} frames)" if n < len(ep["frames"]) else ""), fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 9. How much do λ and γ matter?
#
# IFT with λ = 0 and γ = 0 *is* SFT. A small sweep over both knobs (3 seeds each) shows whether either idea
# moves the transition MSE on this lake.

# %%
SWEEP = {}
for lam in progress((0.0, 0.2, 0.5), desc="lambda"):
    for g in (0.0, 0.95):
        SWEEP[lam, g] = [1e3 * fl.transition_mse(fl.policy_table(fl.train_policy(
            "ift", [BEST], desc=fl.MAP, seed=s, steps=STEPS, lr=LR, lam=lam, gamma=g)[0], N_STATES), PI_STAR, fl.MAP)
            for s in SEEDS[:3]]
print(f"{'lambda':>7s} {'gamma':>6s}  transition MSE x1e3 (3 seeds)")
for (lam, g), v in SWEEP.items():
    print(f"{lam:7.1f} {g:6.2f}  {fmt_mean_std(v, percent=False)}" + ("   <- plain SFT" if lam == 0 and g == 0 else ""))

# %% [markdown]
# ## What we saw
#
# **The paper reports** (FrozenLake, section 5.3, as an ordering of the transition-matrix MSE): IFT much
# better than SFT and ORPO, slightly behind DPO. The paper does not publish its map, slipperiness or
# how the temporal residual is applied to states, so our numbers are not comparable to its figure, only the
# ordering is. Our measurements (printed from this run):

# %%
mse = {m: mean_std([1e3 * r["mse"] for r in rows]) for m, rows in METRICS.items()}
ranking = sorted(mse, key=lambda m: mse[m][0])
print("our ordering by transition MSE (best first):", " < ".join(f"{m} ({mse[m][0]:.2f}±{mse[m][1]:.2f})" for m in ranking))
print("the paper's ordering:                          dpo < ift << sft, orpo")
print(RULE)
per_seed_mse = {m: [r["mse"] for r in rows] for m, rows in METRICS.items()}
best_dpo = min(("dpo", "sft→dpo"), key=lambda m: mse[m][0])
print("Verdicts (lower MSE is better, so 'below' means closer to the optimal policy):")
for a, b in [("ift", "sft"), (best_dpo, "ift"), (best_dpo, "sft")]:
    print(" ", compare_means(per_seed_mse[a], per_seed_mse[b], why=WHY).sentence(f"{a}'s transition MSE", f"{b}'s", unit="×1e-3", scale=1e3))
print(f"({best_dpo} is the DPO variant with the lower mean MSE.) Deterministic success: "
      + ", ".join(f"{m} {100 * mean_std([r['det'] for r in METRICS[m]])[0]:.0f}%" for m in METRICS))

# %% [markdown]
# Every number above goes to `results/04_ift_frozenlake.jsonl` in the shared schema (one row per
# method, seed and metric: transition MSE, success on each lake), so the leaderboard's "Other measurements"
# table is generated from this run.

# %%
rows = []
for m, per_seed in METRICS.items():
    for seed, r in zip(SEEDS, per_seed):
        run = dict(method=m, variant="frozenlake", model="mlp-64", seed=seed, steps=STEPS, device=DEVICE)
        rows += [results.metric_row("transition_mse", r["mse"], "policy", **run),
                 results.metric_row("success_rate", r["det"], "deterministic", n=EPISODES, **run),
                 results.metric_row("success_rate", r["slip"], "slippery", n=EPISODES, **run)]
print("saved", results.save("04_ift_frozenlake", rows).name, f"({len(rows)} rows)")

# %% [markdown]
# **Why the ordering can differ from the paper's.** Three things in this setting work against the paper's
# story, and you can test each one:
#
# 1. *Off the optimal route, the chosen data says nothing.* Every cell an agent can stand on lies on one of
#    the two routes (section 3), so what separates the methods is the detour's cells. SFT and IFT never see
#    them: their error comes from those cells alone (the "optimal route" and "detour only" columns in
#    section 6), and what they do there comes only from how the shared layers generalise from one-hot
#    inputs. DPO and ORPO do see them, but only as moves to avoid.
# 2. *"Rejected" is not wrong everywhere.* Only the detour's first two moves are moves π* never makes (down
#    from the start, and down again from the cell below it, where π* goes back up); at the third cell π* is
#    tied between up and down, and every later move is exactly π*'s (the move-by-move table in section 3).
#    DPO and ORPO score the whole trajectory, so they push all of its moves down alike, which moves
#    probability off π*'s moves in those cells and costs them the MSE there (section 6, "Worse than a uniform
#    random policy?").
# 3. *IFT's residual signal is small on a 7-step path*: λ = 0.2 of the input moves to the neighbours of the
#    previous cell, and relation propagation reweights only seven losses. The λ/γ sweep in section 9
#    shows how much (or little) either knob moves the metric.

# %% [markdown]
# ## Exercises
#
# Each exercise has a hint and a worked solution (click to open). The solutions are code to paste into a new
# cell at the end of the notebook (after everything above has run); each is quick, the last one (many
# sampled episodes) the slowest. They do not state results: run them and compare with the tables above.
#
# **1.** Replace the one-hot input by (row, column) coordinates (`mlp_policy` takes any input size). Do the
# methods now generalise to unvisited cells, and does the ordering change?
#
# <details><summary>Hint</summary>
#
# `train_policy`, `policy_table` and `fused_states` all feed the policy one-hot vectors. A fixed, frozen
# linear layer whose weight columns are the cells' coordinates turns a one-hot vector into its cell's
# coordinates (and IFT's mixture of one-hot vectors into the same mixture of coordinates), so you can put it
# in front of an `mlp_policy(2)` and pass the result as `init=` to `train_policy`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# rows, cols = len(fl.MAP), len(fl.MAP[0])
# COORDS = torch.tensor([[r / (rows - 1), c / (cols - 1)] for r in range(rows) for c in range(cols)])  # [S, 2]
#
# def coord_policy(seed):
#     embed = torch.nn.Linear(N_STATES, 2, bias=False)
#     embed.weight.data = COORDS.T.clone()
#     embed.requires_grad_(False)  # a fixed embedding, like the one-hot vector
#     return torch.nn.Sequential(embed, *fl.mlp_policy(2, seed=seed))
#
# coord_mse = {}
# for m in ("sft", "ift", "dpo", "orpo"):
#     coord_mse[m] = [fl.transition_mse(fl.policy_table(fl.train_policy(
#         m, [BEST], [DETOUR], seed=s, init=coord_policy(s), **common)[0], N_STATES), PI_STAR, fl.MAP) for s in SEEDS]
#     print(f"{m:5s} transition MSE x1e3 with coordinates: {fmt_mean_std([1e3 * v for v in coord_mse[m]], percent=False)}"
#           f"   (one-hot: {fmt_mean_std([1e3 * r['mse'] for r in METRICS[m]], percent=False)})")
# print(compare_means(coord_mse["ift"], coord_mse["sft"], why=WHY).sentence("IFT", "SFT", unit="×1e-3", scale=1e3))
# ```
#
# What to look for: with coordinates, neighbouring cells get similar inputs, so what a policy learns on the
# route carries over to nearby cells, right or wrong: on this map "go right" is π*'s move along the top *and*
# along the bottom row. Compare the "detour only" part of the error (section 6) to see where it changed.
# </details>
#
# **2.** Use as rejected trajectory only the first two moves of the detour (the genuinely wrong part). Does
# DPO overtake IFT, as in the paper?
#
# <details><summary>Hint</summary>
#
# A trajectory is a dict with `states` (one more than the moves) and `actions`; slice both. DPO needs no
# other change.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# WRONG_PART = {"states": DETOUR["states"][:3], "actions": DETOUR["actions"][:2], "reward": 0.0}
# short_mse = {}
# for m in ("dpo", "orpo"):
#     short_mse[m] = [fl.transition_mse(fl.policy_table(fl.train_policy(
#         m, [BEST], [WRONG_PART], seed=s, **common)[0], N_STATES), PI_STAR, fl.MAP) for s in SEEDS]
# short_mse["sft→dpo"] = [fl.transition_mse(fl.policy_table(fl.train_policy(
#     "dpo", [BEST], [WRONG_PART], seed=s, init=RUNS["sft"][s][0], **common)[0], N_STATES), PI_STAR, fl.MAP) for s in SEEDS]
# for m, v in short_mse.items():
#     print(f"{m:8s} rejected = first two moves: {fmt_mean_std([1e3 * x for x in v], percent=False)} x1e-3; "
#           f"whole detour: {fmt_mean_std([1e3 * r['mse'] for r in METRICS[m]], percent=False)}")
#     print("  " + compare_means(v, per_seed_mse["ift"], why=WHY).sentence(m, "IFT", unit="×1e-3", scale=1e3))
# ```
#
# What to look for: the detour's cells below the second one are no longer pushed down, so the "detour only"
# error should no longer be driven by pushing π*'s own moves down; whether DPO then beats IFT also depends
# on what it does in the cells that no data now mentions (as for SFT in point 1).
# </details>
#
# **3.** Use the greedy guess (`argmax`) instead of the expected next state in `fl.fused_states`, as the
# language-model IFT does with tokens. Does it matter?
#
# <details><summary>Hint</summary>
#
# `ift_policy_loss` looks up `fused_states` in the module `fl` when it runs, so you can swap in your own
# function with the same signature for one experiment and put the original back afterwards (`try/finally`).
# `next_state[states, actions]` is the cell each greedy action leads to.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch.nn.functional as F
#
# def greedy_fused_states(policy, states, next_state, n_states, lam):
#     onehot = F.one_hot(states, n_states).float()
#     with torch.no_grad():
#         guess_action = policy(onehot).argmax(-1)                                   # [B, T]
#         guess = F.one_hot(next_state[states, guess_action], n_states).float()      # [B, T, S]
#     guess = torch.cat([onehot[:, :1], guess[:, :-1]], dim=1)                       # x_0 = onehot(s_0)
#     return (1 - lam) * onehot + lam * guess
#
# original = fl.fused_states
# fl.fused_states = greedy_fused_states
# try:
#     greedy = [fl.transition_mse(fl.policy_table(fl.train_policy("ift", [BEST], seed=s, **common)[0], N_STATES),
#                                 PI_STAR, fl.MAP) for s in SEEDS]
# finally:
#     fl.fused_states = original
# print(f"IFT, greedy guess: {fmt_mean_std([1e3 * v for v in greedy], percent=False)} x1e-3; "
#       f"expected next state: {fmt_mean_std([1e3 * r['mse'] for r in METRICS['ift']], percent=False)}")
# print(compare_means(greedy, per_seed_mse["ift"], why=WHY).sentence("greedy-guess IFT", "expected-state IFT", unit="×1e-3", scale=1e3))
# ```
#
# What to look for: once the policy follows the route, its greedy guess of the next cell *is* the true next
# cell, so the fused input becomes the plain one-hot vector and the method drifts towards SFT; the
# expected-state version keeps some mass on the neighbours. Compare both with SFT's row too.
# </details>
#
# **4.** Train on the slippery lake's optimal trajectories (roll out `PI_SLIP` with `slippery=True`): which
# method now transfers best to the slippery lake?
#
# <details><summary>Hint</summary>
#
# Roll out a few dozen episodes of `PI_SLIP` on the slippery lake and keep the ones that reach the goal as
# demonstrations; failed ones make rejected trajectories for DPO and ORPO (pair as many as you have of both).
# `train_policy` takes lists of trajectories of different lengths (they are padded and masked).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# episodes = [fl.rollout(PI_SLIP, fl.MAP, slippery=True, seed=i) for i in range(60)]
# wins = [e for e in episodes if e["reward"] > 0]
# fails = [e for e in episodes if e["reward"] == 0]
# n = min(len(wins), len(fails))
# print(f"{len(wins)} successful and {len(fails)} failed episodes; {n} pairs for DPO and ORPO")
# slip = {}
# for m in ("sft", "ift", "dpo", "orpo"):
#     slip[m] = [fl.evaluate_policy(fl.policy_table(fl.train_policy(m, wins[:n] if m in ("dpo", "orpo") else wins,
#                                                                   fails[:n], seed=s, **common)[0], N_STATES),
#                                   fl.MAP, slippery=True, episodes=EPISODES, seed=s)["success"] for s in SEEDS]
#     print(f"{m:5s} slippery success: {fmt_mean_std(slip[m])}%")
# print(f"the slippery optimum itself: {100 * ref_rows['optimal for the slippery lake']['slip']:.1f}%")
# print(compare_means(slip["ift"], slip["sft"], why=WHY).sentence("IFT", "SFT"))
# ```
#
# What to look for: the demonstrations now visit many more cells (the lake pushes the agent around), so less
# of the policy is left to generalisation; note also that on the slippery lake a demonstrated action does not
# always lead where it points, which IFT's deterministic `next_state` guess ignores.
# </details>

# %% [markdown]
# **5. Check yourself: the weights again, without a loop.** IFT's relation-propagation weights are the same on the lake as on text. Write them as one matrix product:
# `my_relation_weights(nll, mask, gamma)` with `nll`, `mask` [B, T] (1.0 on the moves that carry loss), and check
# with `check_loss(my_relation_weights, "ift")`.
#
# <details><summary>Hint</summary>
#
# R = l D with D[i, t] = gamma^(i - t) for i >= t and 0 otherwise (a [T, T] upper-triangular discount matrix):
# `torch.triu` of the powers. Then rescale each row to sum to its number of moves.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch
#
# from sftkit.checks import check_loss
#
#
# def my_relation_weights(nll, mask, gamma):
#     T = nll.shape[1]
#     i, t = torch.arange(T)[:, None], torch.arange(T)[None, :]
#     discount = torch.where(i >= t, gamma ** (i - t).clamp(min=0).to(nll.dtype), torch.zeros(()))  # D[i, t]
#     R = ((nll * mask) @ discount) * mask     # R_t = sum_{i >= t} gamma^(i - t) l_i
#     return mask.sum(-1, keepdim=True) * R / R.sum(-1, keepdim=True)
#
#
# check_loss(my_relation_weights, "ift")
# ```
#
# The matrix form costs T^2 per row against the loop's T, which is nothing for a lake's few moves and
# vectorizes on a GPU.
# </details>
