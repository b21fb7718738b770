import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sftkit.labs.frozenlake import (
    MAP,
    batch_trajectories,
    demonstrations,
    dpo_policy_loss,
    fused_states,
    ift_policy_loss,
    mlp_policy,
    optimal_policy,
    policy_table,
    policy_transition_matrix,
    rollout,
    sft_policy_loss,
    train_policy,
    transition_mse,
    transition_tensor,
    value_iteration,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_value_iteration_known_values():
    V, Q = value_iteration(["SFG"], gamma=0.9)
    assert np.allclose(V, [0.9, 1.0, 0.0])  # reaching G pays 1; terminal states are worth 0
    assert Q[0].argmax() == 2 and Q[0, 0] == pytest.approx(0.81)  # left bumps the wall: 0.9 * V(S)
    V, _ = value_iteration(["SF", "HG"], gamma=0.5)
    assert np.allclose(V, [0.5, 1.0, 0.0, 0.0])


def test_optimal_policy_splits_ties_and_follows_the_short_route():
    pi = optimal_policy(["SF", "FG"])
    assert np.allclose(pi[0], [0, 0.5, 0.5, 0])  # down or right: both two moves from G
    best, detour = demonstrations()
    assert best["reward"] == detour["reward"] == 1.0
    assert len(best["actions"]) == 7 and len(detour["actions"]) == 11
    assert best["actions"][0] == 2 and detour["actions"][0] == 1  # right vs down from the start
    assert np.allclose(optimal_policy().sum(1), 1)


def test_transition_metric():
    pi = optimal_policy()
    P = policy_transition_matrix(pi)
    assert np.allclose(P.sum(1), 1)
    assert transition_mse(pi, pi) == 0.0
    uniform = np.full_like(pi, 0.25)
    assert transition_mse(uniform, pi) > 0
    # by hand on a 1x3 lake: S under "right" goes to F, under "left" stays (wall)
    right, left = np.tile([0, 0, 1.0, 0], (3, 1)), np.tile([1.0, 0, 0, 0], (3, 1))
    assert transition_mse(left, right, ["SFG"]) == pytest.approx((1 + 1 + 1 + 1) / 9)


def test_rollout_in_gymnasium_matches_the_dynamics():
    P, _, _ = transition_tensor()
    ep = rollout(np.full((30, 4), 0.25), seed=3)
    for s, a, s2 in zip(ep["states"], ep["actions"], ep["states"][1:]):
        assert P[s, a, s2] == 1.0


def test_ift_policy_loss_reduces_to_sft():
    best, _ = demonstrations()
    batch = batch_trajectories([best])
    policy = mlp_policy(30, seed=1)
    next_state = torch.tensor(transition_tensor()[0].argmax(-1))
    sft = sft_policy_loss(policy, batch, 30)
    assert ift_policy_loss(policy, batch, next_state, 30, lam=0.0, gamma=0.0).item() == pytest.approx(sft.item())
    assert ift_policy_loss(policy, batch, next_state, 30, lam=0.2, gamma=0.95).item() != pytest.approx(sft.item())
    # the fused input keeps (1 - lam) of the true state and puts lam on the expected next state of s_(t-1)
    x = fused_states(policy, batch["states"], next_state, 30, 0.2)
    assert torch.allclose(x.sum(-1), torch.ones(1, 7))
    assert torch.allclose(x[0, 0], F.one_hot(torch.tensor(0), 30).float())
    assert x[0, 1, best["states"][1]] >= 0.8


def test_dpo_starts_at_log2_and_training_learns_the_route():
    best, detour = demonstrations()
    policy = mlp_policy(30)
    loss = dpo_policy_loss(policy, policy, batch_trajectories([best]), batch_trajectories([detour]), 30)
    assert loss.item() == pytest.approx(np.log(2))
    for method in ("sft", "ift"):
        trained, losses = train_policy(method, [best], steps=150)
        probs = policy_table(trained, 30)
        assert losses[-1] < losses[0] / 10
        assert rollout(probs, greedy=True)["states"] == best["states"]
    assert MAP[0][0] == "S"
