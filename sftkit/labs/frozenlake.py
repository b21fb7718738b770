"""FrozenLake (Gymnasium) as a small, exact laboratory for SFT, IFT, DPO and ORPO on a policy.

The IFT paper (arXiv 2405.11870, section 5.3) trains a 2-layer MLP policy on the optimal trajectory of a
FrozenLake map that has one optimal and one sub-optimal route, and compares the learned policy with the
optimal one by the MSE between their state-transition matrices. Here:

- `MAP` has a short route along the top (7 moves) and a long detour along the bottom (11 moves);
- `value_iteration` gives the optimal values, `optimal_policy` spreads probability over tied best actions;
- demonstrations are rolled out in the real Gymnasium environment (`rollout`);
- a state is fed to the policy as its one-hot vector (a fixed "embedding" of the cell);
- IFT's temporal residual on states: the input at step t is (1 - lambda) onehot(s_t) + lambda times the
  expected next state under the policy's own action distribution at s_(t-1) (a no-grad first pass), the
  analogue of mixing E(y_t) with the embedding of the model's guess; the per-step losses are re-weighted by
  the same relation-propagation weights as for language models (`sftkit.methods.ift.relation_weights`).

Shapes: B = trajectories, T = steps, S = states (cells), A = 4 actions (left, down, right, up).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import dpo_loss, reduce_loss
from ..methods.ift import relation_weights
from ..profile import timed

# S start, F frozen, H hole, G goal. Optimal: right x3, down x2, right x2. Sub-optimal: down the left
# column, along the bottom row, up the right column (11 moves).
MAP = ["SFFFHH",
       "FHHFHH",
       "FHHFFG",
       "FHHHHF",
       "FFFFFF"]
ACTIONS = "←↓→↑"  # Gymnasium's order: 0 left, 1 down, 2 right, 3 up
DELTAS = [(0, -1), (1, 0), (0, 1), (-1, 0)]  # (row, col) move of each action


def make_env(desc: list[str] = MAP, slippery: bool = False, render: bool = False):
    """Gymnasium's FrozenLake-v1 on a custom map (deterministic unless `slippery`)."""
    import gymnasium as gym

    return gym.make("FrozenLake-v1", desc=desc, is_slippery=slippery,
                    render_mode="rgb_array" if render else None)


def transition_tensor(desc: list[str] = MAP, slippery: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The environment's dynamics read from Gymnasium: P [S, A, S], expected reward R [S, A], done [S, A, S]."""
    table = make_env(desc, slippery).unwrapped.P
    n = len(table)
    P, R, done = np.zeros((n, 4, n)), np.zeros((n, 4)), np.zeros((n, 4, n))
    for s in range(n):
        for a in range(4):
            for p, s2, r, d in table[s][a]:
                P[s, a, s2] += p
                R[s, a] += p * r
                done[s, a, s2] = float(d)
    return P, R, done


def value_iteration(desc: list[str] = MAP, gamma: float = 0.9, slippery: bool = False,
                    tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Optimal state values V [S] and action values Q [S, A] by value iteration (V = 0 after termination)."""
    P, R, done = transition_tensor(desc, slippery)
    V = np.zeros(P.shape[0])
    while True:
        Q = R + gamma * (P * (1 - done)) @ V
        V_new = Q.max(1)
        if np.abs(V_new - V).max() < tol:
            return V_new, Q
        V = V_new


def optimal_policy(desc: list[str] = MAP, gamma: float = 0.9, slippery: bool = False) -> np.ndarray:
    """pi*(a | s) [S, A]: uniform over the actions whose Q is within 1e-9 of the best."""
    _, Q = value_iteration(desc, gamma, slippery)
    best = np.isclose(Q, Q.max(1, keepdims=True), atol=1e-9, rtol=0)
    return best / best.sum(1, keepdims=True)


def blocked(desc: list[str], cell: tuple[int, int]) -> list[str]:
    """The map with a hole at `cell` (row, col): used to derive the sub-optimal route's policy."""
    rows = [list(r) for r in desc]
    rows[cell[0]][cell[1]] = "H"
    return ["".join(r) for r in rows]


def rollout(probs: np.ndarray, desc: list[str] = MAP, slippery: bool = False, greedy: bool = False,
            seed: int = 0, max_steps: int = 100, render: bool = False, env=None) -> dict:
    """One episode in the real Gymnasium environment under the policy table probs [S, A].

    Returns {"states": [T + 1], "actions": [T], "reward", "frames" (rgb arrays when `render`)}.
    Pass `env` (from `make_env`) to reuse one environment over many episodes.
    """
    own = env is None
    env = make_env(desc, slippery, render) if own else env
    rng = np.random.default_rng(seed)
    s, _ = env.reset(seed=seed)
    states, actions, frames, reward = [int(s)], [], [env.render()] if render else [], 0.0
    for _ in range(max_steps):
        a = int(np.argmax(probs[s])) if greedy else int(rng.choice(4, p=probs[s]))
        s, reward, terminated, truncated, _ = env.step(a)
        states.append(int(s))
        actions.append(a)
        if render:
            frames.append(env.render())
        if terminated or truncated:
            break
    if own:
        env.close()
    return {"states": states, "actions": actions, "reward": float(reward), "frames": frames}


def demonstrations(desc: list[str] = MAP, gamma: float = 0.9,
                   detour_block: tuple[int, int] = (0, 1)) -> tuple[dict, dict]:
    """(optimal, sub-optimal) trajectories rolled out greedily in the deterministic environment.

    The sub-optimal route is the optimal policy of the map with a hole at `detour_block`, executed on the
    real map.
    """
    best = rollout(optimal_policy(desc, gamma), desc, greedy=True)
    detour = rollout(optimal_policy(blocked(desc, detour_block), gamma), desc, greedy=True)
    return best, detour


def policy_transition_matrix(probs: np.ndarray, desc: list[str] = MAP, slippery: bool = False) -> np.ndarray:
    """State-transition matrix of a policy: P_pi[s, s'] = sum_a pi(a | s) P(s' | s, a), [S, S]."""
    P, _, _ = transition_tensor(desc, slippery)
    return np.einsum("sa,sat->st", probs, P)


def transition_mse(probs: np.ndarray, reference: np.ndarray, desc: list[str] = MAP, slippery: bool = False) -> float:
    """The paper's metric: mean squared difference between two policies' transition matrices."""
    diff = policy_transition_matrix(probs, desc, slippery) - policy_transition_matrix(reference, desc, slippery)
    return float((diff ** 2).mean())


@timed("evaluate")
def evaluate_policy(probs: np.ndarray, desc: list[str] = MAP, slippery: bool = False, episodes: int = 200,
                    seed: int = 0, max_steps: int = 100) -> dict:
    """Success rate and mean visits per cell [rows, cols] over sampled episodes in the real environment."""
    visits = np.zeros(len(desc) * len(desc[0]))
    wins = 0
    env = make_env(desc, slippery)
    for i in range(episodes):
        ep = rollout(probs, desc, slippery, seed=seed * 100_000 + i, max_steps=max_steps, env=env)
        wins += ep["reward"] > 0
        np.add.at(visits, ep["states"], 1)
    return {"success": wins / episodes, "visits": (visits / episodes).reshape(len(desc), len(desc[0]))}


# ---------------------------------------------------------------- policies and their losses

def mlp_policy(n_states: int, hidden: int = 64, seed: int = 0) -> torch.nn.Module:
    """A 2-layer MLP policy: state vector [.., S] -> action logits [.., A]."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(n_states, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 4))


def policy_table(policy: torch.nn.Module, n_states: int) -> np.ndarray:
    """The policy's action distribution in every state: [S, A]."""
    with torch.no_grad():
        return policy(torch.eye(n_states)).double().softmax(-1).numpy()


def batch_trajectories(trajs: list[dict]) -> dict[str, torch.Tensor]:
    """Pad trajectories: states [B, T] (where each action was taken), actions [B, T], mask [B, T] float."""
    width = max(len(t["actions"]) for t in trajs)
    out = {"states": torch.zeros(len(trajs), width, dtype=torch.long),
           "actions": torch.zeros(len(trajs), width, dtype=torch.long), "mask": torch.zeros(len(trajs), width)}
    for i, t in enumerate(trajs):
        n = len(t["actions"])
        out["states"][i, :n] = torch.tensor(t["states"][:n])
        out["actions"][i, :n] = torch.tensor(t["actions"])
        out["mask"][i, :n] = 1
    return out


def step_nll(policy, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """-log pi(a_t | input_t): inputs [B, T, S], actions [B, T] -> [B, T]."""
    logits = policy(inputs)
    return F.cross_entropy(logits.reshape(-1, 4), actions.reshape(-1), reduction="none").view_as(actions)


def sft_policy_loss(policy, batch: dict, n_states: int) -> torch.Tensor:
    """Behaviour cloning: mean over each trajectory of -log pi(a_t | s_t), then mean over trajectories."""
    nll = step_nll(policy, F.one_hot(batch["states"], n_states).float(), batch["actions"])
    return reduce_loss(nll, batch["mask"], "sequence_mean")


def fused_states(policy, states: torch.Tensor, next_state: torch.Tensor, n_states: int, lam: float) -> torch.Tensor:
    """IFT's temporal residual on states: states [B, T], next_state [S, A] -> inputs [B, T, S].

    x_t = (1 - lam) onehot(s_t) + lam sum_a pi(a | s_(t-1)) onehot(next(s_(t-1), a)) for t >= 1 (no grad);
    x_0 = onehot(s_0).
    """
    onehot = F.one_hot(states, n_states).float()
    with torch.no_grad():
        probs = policy(onehot).softmax(-1)  # [B, T, A]
        expected = torch.einsum("bta,btas->bts", probs, F.one_hot(next_state[states], n_states).float())
    guess = torch.cat([onehot[:, :1], expected[:, :-1]], dim=1)
    return (1 - lam) * onehot + lam * guess


def ift_policy_loss(policy, batch: dict, next_state: torch.Tensor, n_states: int, lam: float = 0.2,
                    gamma: float = 0.95) -> torch.Tensor:
    """IFT for a policy: per-step NLL on the fused state inputs, re-weighted by relation propagation."""
    inputs = fused_states(policy, batch["states"], next_state, n_states, lam)
    nll = step_nll(policy, inputs, batch["actions"])
    weights = relation_weights(nll, batch["mask"], gamma)
    return reduce_loss(nll * weights, batch["mask"], "sequence_mean")


def trajectory_logprob(policy, batch: dict, n_states: int, average: bool = False) -> torch.Tensor:
    """log pi(trajectory) = sum_t log pi(a_t | s_t) (or the mean over steps): [B]."""
    nll = step_nll(policy, F.one_hot(batch["states"], n_states).float(), batch["actions"]) * batch["mask"]
    total = -nll.sum(-1)
    return total / batch["mask"].sum(-1) if average else total


def dpo_policy_loss(policy, reference, chosen: dict, rejected: dict, n_states: int, beta: float = 0.1) -> torch.Tensor:
    """DPO on trajectories: -log sigmoid(beta [(log pi - log ref)(chosen) - (log pi - log ref)(rejected)])."""
    with torch.no_grad():
        ref_chosen = trajectory_logprob(reference, chosen, n_states)
        ref_rejected = trajectory_logprob(reference, rejected, n_states)
    return dpo_loss(trajectory_logprob(policy, chosen, n_states), trajectory_logprob(policy, rejected, n_states),
                    ref_chosen, ref_rejected, beta).mean()


def orpo_policy_loss(policy, chosen: dict, rejected: dict, n_states: int, beta: float = 0.1) -> torch.Tensor:
    """ORPO on trajectories: SFT on chosen - beta log sigmoid(log odds(chosen) - log odds(rejected)),
    with odds from the per-step mean log-probability (as the official ORPO code)."""
    lp_c = trajectory_logprob(policy, chosen, n_states, average=True)
    lp_r = trajectory_logprob(policy, rejected, n_states, average=True)
    log_odds = (lp_c - lp_r) - (torch.log1p(-lp_c.exp().clamp(max=1 - 1e-6)) - torch.log1p(-lp_r.exp().clamp(max=1 - 1e-6)))
    return (-lp_c - beta * F.logsigmoid(log_odds)).mean()


METHODS = ("sft", "ift", "dpo", "orpo")


@timed("train")
def train_policy(method: str, chosen: list[dict], rejected: list[dict] | None = None, desc: list[str] = MAP,
                 seed: int = 0, steps: int = 300, lr: float = 1e-2, hidden: int = 64, lam: float = 0.2,
                 gamma: float = 0.95, beta: float = 0.1, init: torch.nn.Module | None = None
                 ) -> tuple[torch.nn.Module, list[float]]:
    """Train an MLP policy with full-batch Adam: a fresh one (same init per seed for every method), or a
    copy of `init` (e.g. an SFT policy, for the usual SFT-then-DPO recipe).

    sft and ift use only `chosen`; dpo (reference = the starting policy) and orpo also use `rejected`.
    Returns (policy, loss per step).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS}")
    n_states = len(desc) * len(desc[0])
    next_state = torch.tensor(transition_tensor(desc)[0].argmax(-1))  # deterministic moves [S, A]
    policy = copy.deepcopy(init) if init is not None else mlp_policy(n_states, hidden, seed)
    torch.manual_seed(seed)
    reference = copy.deepcopy(policy).requires_grad_(False)
    good = batch_trajectories(chosen)
    bad = batch_trajectories(rejected) if rejected else None
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        if method == "sft":
            loss = sft_policy_loss(policy, good, n_states)
        elif method == "ift":
            loss = ift_policy_loss(policy, good, next_state, n_states, lam, gamma)
        elif method == "dpo":
            loss = dpo_policy_loss(policy, reference, good, bad, n_states, beta)
        else:
            loss = orpo_policy_loss(policy, good, bad, n_states, beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return policy, losses


# ---------------------------------------------------------------- pictures of the grid

CELL_COLOURS = {"S": "#bde0fe", "F": "#f1f7ff", "H": "#264653", "G": "#ffd166"}


def draw_grid(desc: list[str] = MAP, ax=None, values: np.ndarray | None = None, title: str = "", cmap="magma_r",
              vmin: float | None = None, vmax: float | None = None, colorbar: bool = True):
    """The map as coloured cells (or a heatmap of `values` [rows, cols] with holes drawn dark).

    Panels that are compared should share one colour scale: pass the same `vmin`/`vmax` to each, set
    `colorbar=False`, and draw one colour bar for the figure from `ax.images[0]`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    ax = ax or plt.subplots(figsize=(3.2, 2.8))[1]
    rows, cols = len(desc), len(desc[0])
    if values is None:
        ax.imshow([[to_rgb(CELL_COLOURS[c]) for c in row] for row in desc])
    else:
        im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
        if colorbar:
            ax.figure.colorbar(im, ax=ax, fraction=0.04)
    for r in range(rows):
        for c in range(cols):
            if desc[r][c] in "HG" or (values is None and desc[r][c] == "S"):
                ax.text(c, r, desc[r][c], ha="center", va="center", fontsize=9,
                        color="white" if desc[r][c] == "H" else "black",
                        bbox=dict(facecolor=CELL_COLOURS[desc[r][c]], lw=0) if values is not None else None)
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="grey", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)
    return ax


def draw_policy(probs: np.ndarray, desc: list[str] = MAP, ax=None, title: str = ""):
    """The grid with four arrows per non-terminal cell, each as long as pi(a | s) (probs [S, A])."""
    ax = draw_grid(desc, ax, title=title)
    cols = len(desc[0])
    for s, p in enumerate(probs):
        r, c = divmod(s, cols)
        if desc[r][c] in "HG":
            continue
        for a, (dr, dc) in enumerate(DELTAS):
            if p[a] > 0.02:
                ax.arrow(c, r, 0.42 * p[a] * dc, 0.42 * p[a] * dr, width=0.035, head_width=0.14 * min(1, 3 * p[a]),
                         length_includes_head=True, color="#d62828" if p[a] == p.max() else "#6c757d", lw=0)
    return ax
