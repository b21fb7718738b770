from dataclasses import replace

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
    rows = ev.evaluate(None, None, records, generate_all=True)
    assert [r["correct"] for r in rows] == [True, False, True, True, True, True]
    acc = accuracy(rows)
    assert acc[("test", "all")] == {"n": 4, "correct": 3, "accuracy": 0.75}
    assert acc[("longer", "all")]["accuracy"] == 1.0


def test_evaluate_shows_a_bar_per_stage_only_when_it_runs_long(random_models, monkeypatch, capsys):
    """A stage (the teacher-forced pass, generation) that runs past PROGRESS_DELAY seconds gets a progress bar;
    a quick one makes none (in a notebook: no widget left behind), nor do progress=False or TQDM_DISABLE=1."""
    import sftkit.evaluate as ev
    import sftkit.train

    model, tok = load_model(random_models["llama"])
    records = load_world("test")[:6]  # a random model gets them wrong: every item is generated after the pass
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    made = []
    real = sftkit.train.progress
    monkeypatch.setattr(sftkit.train, "progress", lambda *a, **k: made.append(k["desc"]) or real(*a, **k))
    quick = ev.evaluate(model, tok, records, max_new_tokens=4, batch_size=2)
    assert made == [] and capsys.readouterr().err == ""  # quicker than PROGRESS_DELAY: no bar made
    monkeypatch.setattr(ev, "PROGRESS_DELAY", 0)
    assert ev.evaluate(model, tok, records, max_new_tokens=4, batch_size=2) == quick
    err = capsys.readouterr().err
    assert made == ["evaluate: teacher-forced pass", "evaluate: generating"]
    assert "evaluate: teacher-forced pass" in err and "evaluate: generating:" in err and "/6 " in err
    ev.evaluate(model, tok, records, max_new_tokens=4, batch_size=2, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    ev.evaluate(model, tok, records, max_new_tokens=4, batch_size=2)
    assert capsys.readouterr().err == ""


def test_mean_std():
    assert mean_std([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))
    assert fmt_mean_std([0.5, 0.7, 0.9]) == "70.0 ± 20.0"
    assert fmt_mean_std([0.5]) == "50.0"


# ----------------------------------------------------------------------------------------------------
# Exact match in one teacher-forced pass (evaluate's default) equals generating every answer, item by item


def bpe_tokenizer():
    """A byte-level BPE tokenizer (merges learnt on the world's training text, 400 tokens) with the tiny
    model's chat template: a gold answer can be spelt by more than one token sequence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from sftkit.pretrain import CHAT_TEMPLATE, SPECIAL_TOKENS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [m["content"] for r in load_world("train") for m in r["messages"]]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=list(SPECIAL_TOKENS),
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>",
                                   additional_special_tokens=list(SPECIAL_TOKENS[2:]))
    fast.chat_template = CHAT_TEMPLATE
    return fast


def trained(kind):
    """(model, tokenizer, records) of one kind: the committed base model, an SFT model and a LoRA model
    (60 steps each, so some answers are right and some wrong), and a BPE-tokenizer Llama trained 150 steps."""
    from sftkit.pretrain import build_tiny_model
    from sftkit.train import TrainConfig, train

    config = TrainConfig(steps=60, batch_size=32, lr=1e-3, warmup_steps=5, logging_steps=1000)
    if kind == "base":
        return load_model("tiny")
    if kind == "bpe":
        tok = bpe_tokenizer()
        model = build_tiny_model(tok, hidden_size=96, intermediate_size=192, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=4)
        return train(model, tok, load_world("train"), TrainConfig(steps=150, batch_size=32, lr=3e-3, warmup_steps=10,
                                                                  logging_steps=1000)).model, tok
    if kind == "lora":
        model, tok = load_model("tiny", lora={"r": 8})
        return train(model, tok, load_world("train"), replace(config, steps=100, lr=5e-3)).model, tok
    model, tok = load_model("tiny")
    return train(model, tok, load_world("train"), config).model, tok


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["base", "sft", "lora", "bpe"])
def test_teacher_forced_exact_match_equals_generation_on_every_item(kind):
    from sftkit.evaluate import evaluate, teacher_forced
    from sftkit.world import EVAL_SPLITS

    torch.manual_seed(0)
    model, tok = trained(kind)
    records = [r for s in ("dev", *EVAL_SPLITS) for r in load_world(s)]
    generated = evaluate(model, tok, records, generate_all=True)
    fast = evaluate(model, tok, records)
    scores_only = evaluate(model, tok, records, predictions=False)
    right = [g["correct"] for g in generated]
    assert [f["correct"] for f in fast] == right == [f["correct"] for f in scores_only]
    assert [g["prediction"] for g in generated] == [f["prediction"] for f in fast]
    assert all(f["prediction"] in (None, g["prediction"]) for f, g in zip(scores_only, generated))
    settled = teacher_forced(model, tok, records)
    assert all(ok == r and pred in (None, g["prediction"])
               for (ok, pred), r, g in zip(settled, right, generated) if ok is not None), "a settled item must agree"
    if kind in ("sft", "lora"):  # the pass settles most items itself: not a test that passes vacuously
        assert sum(ok is True for ok, _ in settled) >= 0.9 * sum(right) > 20
        assert sum(ok is False for ok, _ in settled) >= 0.5 * (len(right) - sum(right))


def test_teacher_forced_pass_needs_every_answer_token_and_the_end(random_models):
    """A hand-built case: a model that always predicts the gold continuation is proven right; one that picks a
    wrong first answer token is proven wrong; one that stops one token early is judged on the shorter answer;
    an answer longer than max_new_tokens is left to generation."""
    from sftkit import evaluate as ev

    _, tok = load_model(random_models["llama"])
    record = next(r for r in load_world("test") if len(r["answer"]) > 2 and " " not in r["answer"])
    prompt_ids, gold = ev.answer_ids(tok, record)
    assert gold[-1] == tok.eos_token_id and tok.decode(gold[:-1]) == record["answer"]
    sequence = prompt_ids + gold
    other = tok.convert_tokens_to_ids("#")

    class Oracle(torch.nn.Module):
        def __init__(self, at=None, token=None):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.at, self.token = at, token

        def forward(self, input_ids, attention_mask, position_ids, logits_to_keep):
            logits = torch.zeros(*input_ids.shape, len(tok))
            for t in range(input_ids.shape[1] - 1):
                target = sequence[t + 1] if t + 1 < len(sequence) else tok.eos_token_id
                logits[0, t, self.token if t + 1 == self.at else target] = 1.0
            return type("Out", (), {"logits": logits[:, -logits_to_keep:]})

    assert ev.teacher_forced(Oracle(), tok, [record]) == [(True, record["answer"])]
    assert ev.teacher_forced(Oracle(len(prompt_ids), other), tok, [record]) == [(False, None)]  # wrong first token
    stop = len(sequence) - 2  # the end token one position early: the answer minus its last character
    assert ev.teacher_forced(Oracle(stop, tok.eos_token_id), tok, [record]) == [(False, record["answer"][:-1])]
    assert ev.teacher_forced(Oracle(), tok, [record], max_new_tokens=len(gold) - 1) == [(None, None)]
    space = tok.convert_tokens_to_ids(" ")  # a trailing space is forgiven by `normalize`: generation decides
    assert ev.teacher_forced(Oracle(len(sequence) - 1, space), tok, [record]) == [(None, None)]
