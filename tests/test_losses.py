import math

import pytest
import torch

from sftkit.data import IGNORE, pad_collate, tokenize_dataset
from sftkit.losses import ntp_loss, reduce_loss, sequence_logprob, token_nll
from sftkit.model import load_model


def test_hand_computed_two_token_example():
    # vocabulary of 2, uniform logits at t=0 then a confident logit at t=1
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[IGNORE, 1, 0]])  # position 0 predicts token 1 (p=1/2), position 1 predicts 0 (p=3/4)
    nll, mask = token_nll(logits, labels)
    assert torch.allclose(nll, torch.tensor([[math.log(2), -math.log(0.75)]]))
    assert ntp_loss(logits, labels).item() == pytest.approx((math.log(2) - math.log(0.75)) / 2)
    assert sequence_logprob(logits, labels).item() == pytest.approx(math.log(0.5) + math.log(0.75))


def test_reductions_differ_as_defined():
    nll = torch.tensor([[1.0, 3.0, 0.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert reduce_loss(nll, mask, "token_mean").item() == pytest.approx(2.0)  # (1+3+2)/3
    assert reduce_loss(nll, mask, "sequence_mean").item() == pytest.approx(2.0)  # (2 + 2)/2
    assert reduce_loss(nll, mask, "sum").item() == pytest.approx(6.0)
    mask2 = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert reduce_loss(nll, mask2, "token_mean").item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown reduction"):
        reduce_loss(nll, mask, "median")


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_ntp_loss_equals_the_models_own_loss(random_models, arch):
    model, tok = load_model(random_models[arch])
    convs = [{"messages": [{"role": "user", "content": f"Add {i} and 2."}, {"role": "assistant", "content": str(i + 2) * (i + 1)}]}
             for i in range(3)]
    batch = pad_collate(tokenize_dataset(tok, convs), tok.pad_token_id)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert ntp_loss(out.logits, batch["labels"]).item() == pytest.approx(out.loss.item(), rel=1e-5)
