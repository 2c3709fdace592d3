"""The replay memory (spec 6): a pool of interleaved editing trajectories.

A record is an image (64x64x3, the raw unclipped agent output so far) and its state (spec 4.1; its layout
is state.py's). Generator batches advance unfinished
records by one step and put them back; fresh inputs keep the pool full; finished records (step 5)
are what the critic sees as fakes. The pool is held as two arrays rather than a list of records;
the order of records and every rule are those of a list.
"""
import os
import sys
import zipfile

import numpy as np

import atomic
from state import STEP, STOPPED

CRITIC_PASSES = 640               # the original gives up after this many passes with no finished record


class ReplayMemory:

    def __init__(self, cfg, input_provider, seed=None, channels=3):
        """channels: of the provider's patches; 6 for the paired reward, whose records carry their
        target as channels 3-5 (the pool treats a record as one array either way)."""
        self.cfg = cfg
        self.provider = input_provider
        self.size = cfg.replay_memory_size
        self.batch_size = cfg.batch_size
        self.rng = np.random.default_rng(getattr(cfg, 'seed', None) if seed is None else seed)
        self.images = np.zeros((0, cfg.source_img_size, cfg.source_img_size, channels), np.float32)
        self.states = np.zeros((0, cfg.num_state_dim), np.float32)
        self.fill_pool()

    def __len__(self):
        return len(self.images)

    def fill_pool(self):
        """Appends batches of fresh inputs with zero states until the pool holds `size` records,
        then truncates to `size`, which drops surplus records from the end (spec 6.2)."""
        images, states = [self.images], [self.states]
        count = len(self.images)
        while count < self.size:
            fresh = np.asarray(self.provider.next_batch(self.batch_size), np.float32)
            images.append(fresh)
            states.append(np.zeros((len(fresh), self.states.shape[1]), np.float32))
            count += len(fresh)
        self.images = np.concatenate(images)[:self.size]
        self.states = np.concatenate(states)[:self.size]

    def get_next_fake_batch(self, batch_size=None):
        """(images, states) of `batch_size` unfinished records, removed from the pool (spec 6.3).

        The pool is shuffled, then records are popped from the front: finished ones are discarded
        (this is how finished trajectories leave), and the pool is refilled whenever it runs empty.
        """
        batch_size = batch_size or self.batch_size
        self._shuffle()
        images, states = [], []
        needed = batch_size
        while needed:
            unfinished = np.flatnonzero(self.states[:, STOPPED] == 0)[:needed]
            # Pop everything up to the last record taken (or the whole pool if it runs short).
            popped = unfinished[-1] + 1 if len(unfinished) == needed else len(self.images)
            images.append(self.images[unfinished])
            states.append(self.states[unfinished])
            self.images, self.states = self.images[popped:], self.states[popped:]
            needed -= len(unfinished)
            if not len(self.images):   # checked after every pop, the last one included
                self.fill_pool()
        return np.concatenate(images), np.concatenate(states)

    def get_feed_batch(self, n=None):
        """The fixed visualization batch drawn once at start-up, removed from the pool (spec 6.2)."""
        return self.get_next_fake_batch(n)

    def replace_memory(self, images, states):
        """Puts the agent's new records back and tops the pool up with fresh inputs (spec 6.4)."""
        images = np.asarray(images, np.float32)
        states = np.asarray(states, np.float32)
        self._shuffle()
        # Over-long trajectories are kept with a probability; inert while episodes end at step 5.
        keep = ((states[:, STEP] < self.cfg.maximum_trajectory_length)
                | (self.rng.random(len(states)) < self.cfg.over_length_keep_prob))
        self.images = np.concatenate([self.images, images[keep]])
        self.states = np.concatenate([self.states, states[keep]])
        self.fill_pool()
        self._shuffle()

    def get_critic_batch(self, batch_size=None):
        """`batch_size` finished images (step 5), in pool order with repeats (spec 6.5)."""
        batch_size = batch_size or self.batch_size
        self.fill_pool()
        self._shuffle()
        finished = np.flatnonzero(self.states[:, STOPPED] > 0)
        # Passes over the pool repeat in the same order, so `CRITIC_PASSES` empty passes are one.
        if not len(finished) or len(finished) * CRITIC_PASSES < batch_size:
            raise RuntimeError(
                f"replay memory: no finished (step {self.cfg.test_steps}) trajectory among "
                f"{len(self)} records after {CRITIC_PASSES} passes; the critic needs the "
                "generator to have run whole episodes (replace_memory with the agent's outputs) first")
        return self.images[np.resize(finished, batch_size)]

    def debug(self):
        """One line: pool size, mean step and the number of records at each step."""
        steps = np.rint(self.states[:, STEP]).astype(int)
        counts = np.bincount(steps, minlength=self.cfg.test_steps + 1)
        mean = steps.mean() if len(steps) else float('nan')
        return (f"replay memory: {len(self)} records, mean step {mean:.2f}, per step "
                + ' '.join(f"{s}:{c}" for s, c in enumerate(counts)))

    def _shuffle(self):
        order = self.rng.permutation(len(self.images))
        self.images, self.states = self.images[order], self.states[order]

    def save(self, path):
        """Writes the pool (atomically) so a resumed run continues with the same trajectories."""
        with atomic.atomic_write(path) as f:
            np.savez(f, images=self.images, states=self.states)

    def load(self, path):
        """Restores a pool written by save(); returns False (pool unchanged) if there is none, or none
        this run can use: training then fills a new one, as at its start."""
        if not os.path.exists(path):
            return False
        try:
            with np.load(path) as saved:
                images, states = saved['images'], saved['states']
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            print(f"warning: {path} is damaged ({type(e).__name__}: {e}), so the replay memory starts "
                  "again with warm-up rollouts; the networks resume from their checkpoint", file=sys.stderr)
            return False
        if images.shape[1:] != self.images.shape[1:] or states.shape[1:] != self.states.shape[1:]:
            return False
        self.images, self.states = images, states
        self.fill_pool()
        return True
