import pytest
import torch

from sftkit.data import load_world, prompt_messages
from sftkit.evaluate import accuracy, generate
from sftkit.model import load_model
from sftkit.results import fmt_mean_std, mean_std


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_left_padded_generation_equals_one_by_one(random_models, arch):
    model, tok = load_model(random_models[arch])
    records = load_world("test")[::60]
    convs = [prompt_messages(r) for r in records]
    batched = generate(model, tok, convs, max_new_tokens=6, batch_size=4)
    single = [generate(model, tok, [c], max_new_tokens=6)[0] for c in convs]
    assert batched == single


def test_sampling_returns_k_answers_per_prompt(random_models):
    model, tok = load_model(random_models["llama"])
    convs = [prompt_messages(r) for r in load_world("test")[:3]]
    torch.manual_seed(0)
    out = generate(model, tok, convs, max_new_tokens=4, do_sample=True, num_return_sequences=2, temperature=1.0)
    assert len(out) == 6



def test_evaluate_scores_exact_matches(random_models, monkeypatch):
    import sftkit.evaluate as ev

    records = load_world("test")[:4] + load_world("longer")[:2]
    answers = [r["answer"] for r in records]
    answers[1] = answers[1] + "!"  # one wrong
    monkeypatch.setattr(ev, "generate", lambda *a, **k: answers)
    rows = ev.evaluate(None, None, records)
    assert [r["correct"] for r in rows] == [True, False, True, True, True, True]
    acc = accuracy(rows)
    assert acc[("test", "all")] == {"n": 4, "correct": 3, "accuracy": 0.75}
    assert acc[("longer", "all")]["accuracy"] == 1.0


def test_mean_std():
    assert mean_std([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))
    assert fmt_mean_std([0.5, 0.7, 0.9]) == "70.0 ± 20.0"
    assert fmt_mean_std([0.5]) == "50.0"
