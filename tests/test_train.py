"""Batching and progress helpers of sftkit.train."""
import os

import torch

from sftkit.data import load_world, pad_collate, tokenize_dataset
from sftkit.methods.sftmix import BalancedSampler
from sftkit.model import load_model
from sftkit.train import BucketSampler, bucketed, example_length, progress


def test_bucketed_sorts_each_group_and_keeps_every_position():
    lengths = [5, 1, 4, 2, 8, 3, 7, 6, 9]
    out = bucketed([0, 1, 2, 3, 4, 5, 6, 7, 8], lengths, batch_size=2, bucket=2)
    assert sorted(out) == list(range(9))
    assert out == [1, 3, 2, 0, 5, 7, 6, 4, 8]  # groups of 4 positions, each sorted by length
    assert bucketed([3, 1, 2], lengths, batch_size=2, bucket=1) == [1, 3, 2]  # bucket=1: pairs sorted only


def test_bucket_sampler_is_a_seeded_permutation_that_pads_less():
    _, tok = load_model("tiny")
    dataset = tokenize_dataset(tok, load_world("train"), 256)
    lengths = [example_length(ex) for ex in dataset]

    def padded_tokens(order, batch_size=32):
        return sum(len(order[s:s + batch_size]) * max(lengths[i] for i in order[s:s + batch_size])
                   for s in range(0, len(order), batch_size))

    sampler = BucketSampler(lengths, batch_size=32, bucket=4, seed=3)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(len(dataset))) and first != second
    assert first == list(BucketSampler(lengths, batch_size=32, bucket=4, seed=3))  # same seed, same order
    plain = list(BucketSampler(lengths, batch_size=32, bucket=1, seed=3))
    assert padded_tokens(first) < 0.75 * padded_tokens(plain)
    assert pad_collate([dataset[i] for i in first[:32]], tok.pad_token_id)["input_ids"].shape[0] == 32


def test_example_length_counts_both_sides_of_a_pair():
    assert example_length({"input_ids": [1, 2, 3], "labels": [1, 2, 3]}) == 3
    assert example_length({"chosen_input_ids": [1, 2], "rejected_input_ids": [1, 2, 3], "index": 0}) == 5


def test_balanced_sampler_with_lengths_stays_balanced_and_pads_less():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 80, (400,), generator=gen).tolist()
    confident = [i % 2 == 0 for i in range(400)]
    plain = list(BalancedSampler(confident, 16, seed=0))
    bucket = list(BalancedSampler(confident, 16, seed=0, lengths=lengths, bucket=4))
    assert sorted(bucket) == sorted(plain)
    for b in range(0, len(bucket), 16):
        assert sum(confident[i] for i in bucket[b:b + 16]) == 8

    def padded(order):
        return sum(max(lengths[i] for i in order[s:s + 16]) for s in range(0, len(order), 16))

    assert padded(bucket) < padded(plain)


def test_progress_is_quiet_under_tqdm_disable(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress(range(3)).disable
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not progress(range(3), file=open(os.devnull, "w")).disable
