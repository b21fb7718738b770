"""Gradient accumulation: `grad_accum=k` with batch B/k takes the optimizer step that one batch of B takes, for
every loss-side method (sft, sftmix, ift, dpo, rpo, crlft).

The data make the micro-batches of a step as different as they can be: B examples, half the answers one
character and half 48, and a step's examples sorted by length (`BucketSampler`; SFTMix's balanced blocks too),
so one micro-batch holds the short answers and the other the long ones. A token-mean loss averaged per
micro-batch would weigh each short answer's token 48 times as much as a long answer's; the Trainer dividing (or
not) by k scales the step. Before the fix both happened (k = 2): transformers took each micro-batch's mean for
a loss already divided over the step and did not divide by k, so the accumulated gradient was 2x the batch's for
ift, dpo and rpo (means over equally many sequences or pairs), and 4.7x with cosine 0.40 to it for sft, sftmix
and crlft (token means), and the logged loss was doubled.
"""
import pytest
import torch
from transformers import TrainerCallback

from sftkit.data import tokenize_dataset
from sftkit.methods import get
from sftkit.model import load_model
from sftkit.train import TrainConfig, train

B, K, STEPS = 8, 2, 2
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-7  # first step's gradient, k micro-batches vs one batch (measured: 3e-6 of
# each tensor's largest element)
WEIGHTS_ATOL = 1e-5  # every weight after STEPS Adam steps of lr 1e-3 (measured: up to 3e-6, where a gradient
# element near 0 is mostly rounding, which Adam's normalisation scales up to a visible step)


def answer(i: int) -> str:
    return "b" if i % 2 else "the quick brown fox jumps over the lazy dog again"[:48]


def conversations(n: int = B) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": answer(i)}],
             "source": "expert" if i % 4 < 2 else "suboptimal"} for i in range(n)]


def pairs(n: int = B) -> list[dict]:
    return [{"prompt": f"Say {i}.", "chosen": answer(i), "rejected": answer(i + 1) + "x"} for i in range(n)]


METHODS = {  # method: (records, Config knobs)
    "sft": (conversations, {}),
    "sftmix": (conversations, {"mu": 0.0}),  # its Mixup pairs rows within a batch at random: see the note below
    "ift": (conversations, {}),
    "dpo": (pairs, {}),
    "rpo": (pairs, {"reduction": "sum"}),
    "crlft": (conversations, {}),
}


def run(method: str, model_path: str, k: int):
    """(first step's gradients, TrainResult) of `method` with batch B/k and grad_accum k, clipping off (clipping
    to norm 1 would hide a gradient scaled by k)."""
    make, knobs = METHODS[method]
    spec = get(method)
    grads = {}

    class Capture(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            if not grads:
                grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})

    class Trainer(spec.trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.args.max_grad_norm = 0.0
            self.add_callback(Capture())

    records = make()
    extra = {"confident": {i: i % 4 < 2 for i in range(len(records))}} if method == "sftmix" else {}
    model, tok = load_model(model_path)
    tokenize = spec.tokenize or tokenize_dataset
    result = train(model, tok, records, TrainConfig(steps=STEPS, batch_size=B // k, grad_accum=k, logging_steps=1,
                                                    warmup_steps=0),
                   trainer_cls=Trainer, dataset=tokenize(tok, records, 256),
                   trainer_kwargs={**spec.config(**knobs).trainer_kwargs(), **extra})
    return grads, result


@pytest.mark.parametrize("method", list(METHODS))
def test_accumulated_micro_batches_step_like_one_batch(method, random_models):
    one_grads, one = run(method, random_models["llama"], 1)
    acc_grads, acc = run(method, random_models["llama"], K)
    assert one_grads.keys() == acc_grads.keys() and one_grads
    for name, grad in one_grads.items():
        torch.testing.assert_close(acc_grads[name], grad, rtol=GRAD_RTOL, atol=GRAD_ATOL, msg=name)
    assert [h["loss"] for h in acc.history if "loss" in h] == pytest.approx(
        [h["loss"] for h in one.history if "loss" in h], rel=1e-5)
    for (name, a), b in zip(acc.model.state_dict().items(), one.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=WEIGHTS_ATOL, rtol=0, msg=name)


# SFTMix with Mixup on (mu > 0) cannot be exact: it mixes rows paired at random within a batch, and a micro-batch
# can only pair its own rows. Its NTP term and balanced batches are exact (the test above, mu = 0); the Mixup term
# of each micro-batch is weighted by the micro-batch's answer tokens.
