"""Replay memory (spec 6) with a fake input provider and a fake agent that advances states one step.

Images are 4x4 to keep the simulation fast; their first pixel carries the trajectory's step so the
tests can tell which images the critic receives.
"""
import types

import numpy as np
import pytest

from replay_memory import ReplayMemory
from state import REWARD_FLAG, STEP, STOPPED

SIZE = 4


def make_cfg(**kw):
    cfg = dict(replay_memory_size=128, batch_size=64, source_img_size=SIZE, num_state_dim=11,
               maximum_trajectory_length=7, over_length_keep_prob=0.5, test_steps=5, seed=0)
    cfg.update(kw)
    return types.SimpleNamespace(**cfg)


class FakeProvider:
    """Fresh inputs: every image is all zeros (step 0); counts the batches drawn."""

    def __init__(self):
        self.batches = 0

    def next_batch(self, n):
        self.batches += 1
        return np.zeros((n, SIZE, SIZE, 3), np.float32)


def agent_step(images, states, rng, test_steps=5):
    """The spec 4.1 transition with a random filter; the image records the new step."""
    states = states.copy()
    step = states[:, STEP] + 1
    submitted = (np.abs(step - test_steps) < 1e-4).astype(np.float32)
    states[:, REWARD_FLAG] = states[:, STOPPED] = submitted
    states[:, STEP] = step
    states[np.arange(len(states)), 3 + rng.integers(0, 8, len(states))] = 1
    return np.broadcast_to(step[:, None, None, None], images.shape).astype(np.float32), states


def test_fill_and_feed_batch():
    provider = FakeProvider()
    memory = ReplayMemory(make_cfg(), provider)
    assert len(memory) == 128 and provider.batches == 2
    assert memory.images.shape == (128, SIZE, SIZE, 3) and memory.states.shape == (128, 11)
    images, states = memory.get_feed_batch(64)
    assert images.shape == (64, SIZE, SIZE, 3) and not states.any()
    assert len(memory) == 64                     # drawn out of the pool
    memory.fill_pool()
    assert len(memory) == 128
    memory.fill_pool()
    assert provider.batches == 3                 # a full pool draws nothing


def test_fill_truncates_to_pool_size():
    memory = ReplayMemory(make_cfg(replay_memory_size=100), FakeProvider())
    assert len(memory) == 100


def test_generator_batch_skips_finished_and_refills():
    provider = FakeProvider()
    memory = ReplayMemory(make_cfg(), provider)
    memory.states[:, STOPPED] = 1                # every record finished
    memory.states[:, STEP] = 5
    images, states = memory.get_next_fake_batch()
    assert len(images) == 64 and not states[:, STOPPED].any() and not states[:, STEP].any()
    assert len(memory) == 64 and not memory.states.any()   # finished ones discarded, refilled fresh
    # Half finished: records are popped only up to the batch's last one, so the pool loses 10
    # unfinished records, some finished ones (discarded), and is not refilled.
    memory = ReplayMemory(make_cfg(), FakeProvider())
    memory.states[::2, STOPPED] = 1
    _, states = memory.get_next_fake_batch(10)
    assert len(states) == 10 and not states[:, STOPPED].any()
    assert (memory.states[:, STOPPED] == 0).sum() == 54 and len(memory) <= 118


def test_critic_batch_only_finished():
    rng = np.random.default_rng(0)
    memory = ReplayMemory(make_cfg(), FakeProvider())
    memory.get_feed_batch(64)
    with pytest.raises(RuntimeError, match='no finished'):
        memory.get_critic_batch()
    for _ in range(30):
        images, states = memory.get_next_fake_batch()
        assert len(images) == 64 and not states[:, STOPPED].any()
        memory.replace_memory(*agent_step(images, states, rng))
        assert len(memory) == 128
        if (memory.states[:, STOPPED] > 0).any():
            critic = memory.get_critic_batch()
            assert critic.shape == (64, SIZE, SIZE, 3)
            np.testing.assert_array_equal(critic, 5.0)   # images that went through 5 steps
    # Repeats come in pool order: a single finished record fills the whole batch.
    memory.states[:, STOPPED] = 0
    memory.states[7, STOPPED] = 1
    memory.images[7] = 42
    np.testing.assert_array_equal(memory.get_critic_batch(), 42)


def test_over_length_records_kept_with_probability():
    memory = ReplayMemory(make_cfg(replay_memory_size=2000, batch_size=1000), FakeProvider())
    memory.get_next_fake_batch(1000)
    states = np.zeros((1000, 11), np.float32)
    states[:, STEP] = 9                          # beyond maximum_trajectory_length (never in practice)
    memory.replace_memory(np.ones((1000, SIZE, SIZE, 3), np.float32), states)
    assert 400 < (memory.states[:, STEP] == 9).sum() < 600


def test_steady_state():
    """Spec 6.6: about 21 records at each step 0..5 and a mean step of about 2.5."""
    rng = np.random.default_rng(0)
    memory = ReplayMemory(make_cfg(), FakeProvider())
    memory.get_feed_batch(64)
    counts, discarded = [], []
    for iteration in range(600):
        before = (memory.states[:, STOPPED] > 0).sum()
        images, states = memory.get_next_fake_batch()
        discarded.append(before - (memory.states[:, STOPPED] > 0).sum())
        assert not states[:, STOPPED].any()
        memory.replace_memory(*agent_step(images, states, rng))
        assert len(memory) == 128
        if iteration >= 100:
            counts.append(np.bincount(memory.states[:, STEP].astype(int), minlength=6))
    counts = np.mean(counts, axis=0)
    assert counts.shape == (6,)
    np.testing.assert_allclose(counts, 128 / 6, atol=2.0)
    assert np.mean(np.array(counts) @ np.arange(6) / 128) == pytest.approx(2.5, abs=0.15)
    assert np.mean(discarded[100:]) == pytest.approx(13, abs=2.5)
    text = memory.debug()
    assert '128 records' in text and 'mean step' in text and '5:' in text


def test_seeded_shuffles_repeat():
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(3)
        memory = ReplayMemory(make_cfg(seed=11), FakeProvider())
        for _ in range(12):
            memory.replace_memory(*agent_step(*memory.get_next_fake_batch(), rng))
        runs.append(memory.states.copy())
    np.testing.assert_array_equal(*runs)
