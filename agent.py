"""The actor (the policy network; net.py's glossary) of spec 4.1-4.3 and its penalties (spec 5.3).

One step of an episode: two CNNs read the image with the state vector as constant planes. One
regresses every filter's parameters (8 heads on shared features), the other picks the filter (a
softmax policy with 5% uniform exploration). Each image goes through its chosen filter, so gradient
reaches only that filter and its head.

Dropout on both feature vectors is on in training AND evaluation: it is the model's one-to-many
mapping, as in the original, where it is the only randomness at test time (spec 4.2). It is
stateless, driven by an explicit seed, so any rollout can be repeated. A seed is one (2,) for the
whole batch (training), or one per image (B, 2): then each image's masks and samples are drawn from
its own seed alone, so its edit does not depend on the rest of its batch (evaluate.py --seed: a
photo gets the same edit alone, in any batch, at any position).
"""
import math

import tensorflow as tf

import util
from layers import ConvTower, Dense, lrelu
from state import STEP, USAGE


class Actor(tf.Module):
    """The actor's weights: shared parameter extractor + 8 filter heads, and the selector branch."""

    def __init__(self, cfg, filters, rng, weight_dtype=tf.float32):
        """weight_dtype float16 makes a storage copy for a half-size export (GAN.save_actor); the
        weights are cast to the compute dtype on use either way."""
        super().__init__(name='generator')     # the original's TF1 scope
        if cfg.masking or not cfg.shared_feature_extractor or not cfg.img_include_states:
            raise ValueError("config: masking=True, shared_feature_extractor=False and img_include_states=False"
                             " are not supported; the shipped configs use False, True, True (spec 2.2)")
        dtype = util.compute_dtype(cfg.mixed_precision)
        channels = 3 + cfg.num_state_dim
        features = cfg.feature_extractor_dims
        self.dropout_rate = 1.0 - cfg.dropout_keep_prob
        w = dict(weight_dtype=weight_dtype)
        self.features = ConvTower(channels, rng, dtype, cfg.base_channels, name='features', **w)
        self.filter_fc1 = [Dense(features, cfg.fc1_size, rng, dtype, name=f'filter_{j}_fc1', **w)
                           for j in range(len(filters))]
        # n_j parameters + 6 mask outputs: unused (masking off) but present in the original checkpoint.
        self.filter_fc2 = [Dense(cfg.fc1_size, f.num_params + 6, rng, dtype, name=f'filter_{j}_fc2', **w)
                           for j, f in enumerate(filters)]
        self.selector_features = ConvTower(channels, rng, dtype, cfg.base_channels, name='action_selection', **w)
        self.selector_fc1 = Dense(features, cfg.fc1_size, rng, dtype, name='selector_fc1', **w)
        self.selector_fc2 = Dense(cfg.fc1_size, len(filters), rng, dtype, name='selector_fc2', **w)
        self.num_params = [f.num_params for f in filters]

    def __call__(self, images, states, seed):
        """-> (list of raw parameter pre-activations (B, n_j), selector logits (B, 8)), all float32.

        seed: int (2,) stateless seed of this call's two dropout masks, or (B, 2), one per image.
        """
        seeds = split_seed(seed)
        features = self.dropout(self.features(images, states), seeds[0])
        raw = [tf.cast(fc2(lrelu(fc1(features)))[:, :n], tf.float32)
               for fc1, fc2, n in zip(self.filter_fc1, self.filter_fc2, self.num_params)]
        sel = self.dropout(self.selector_features(images, states), seeds[1])
        logits = tf.cast(self.selector_fc2(lrelu(self.selector_fc1(sel))), tf.float32)
        return raw, logits

    def dropout(self, features, seed):
        # Masks drawn in float32, so a seed gives the same masks with and without mixed precision.
        features = tf.cast(features, tf.float32)
        if seed.shape.rank == 1:
            return tf.nn.experimental.stateless_dropout(features, self.dropout_rate, seed)
        return tf.map_fn(lambda x: tf.nn.experimental.stateless_dropout(x[0], self.dropout_rate, x[1]),
                         (features, seed), fn_output_signature=tf.float32)


def split_seed(seed):
    """Two independent seeds from one (2,), or two per-image seeds (B, 2) from per-image seeds (B, 2)."""
    if seed.shape.rank == 1:
        return tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    return tf.unstack(tf.map_fn(lambda s: tf.random.experimental.stateless_split(s, 2), seed), axis=1)


def uniform(batch, seed):
    """(batch,) uniforms in [0, 1) from one seed (2,), or each from its image's seed (batch, 2)."""
    if seed.shape.rank == 1:
        return tf.random.stateless_uniform([batch], seed)
    return tf.map_fn(lambda s: tf.random.stateless_uniform([], s), seed, fn_output_signature=tf.float32)


def policy(logits, exploration):
    """pi = 0.95 softmax + 0.05 uniform, renormalized (spec 4.3); applied in training and evaluation."""
    n = logits.shape[-1]
    pi = (1.0 - exploration) * (tf.nn.softmax(logits) + 1e-37) + exploration / n
    return pi / (tf.reduce_sum(pi, axis=1, keepdims=True) + 1e-30)


def entropy(pi):
    return -tf.reduce_sum(pi * tf.math.log(pi), axis=1)


def sample_action(pi, u):
    """Inverse-CDF sampling with u ~ U[0, 1): the number of exclusive-cdf entries below u, minus one.

    The floor at 0 only matters for u == 0 exactly, where the original would return -1.
    """
    cdf = tf.cumsum(pi, axis=1, exclusive=True)
    count = tf.reduce_sum(tf.cast(cdf < u[:, None], tf.int32), axis=1)
    return tf.maximum(count - 1, 0)


def next_states(states, onehot, test_steps):
    """Spec 4.1: the step counter advances; flags 0 and 1 mark the final step; usage flags accumulate."""
    step = states[:, STEP] + 1.0
    submitted = tf.cast(tf.abs(step - test_steps) < 1e-4, tf.float32)
    usage = tf.maximum(states[:, USAGE:], onehot)
    return tf.concat([submitted[:, None], submitted[:, None], step[:, None], usage], axis=1)


def penalties(cfg, output, states, onehot, pi, progress):
    """P (B,) of spec 5.3: over-exposure + decaying entropy bonus + filter reuse.

    The original's fourth term, early stop, is (1 - is_last_step) * submitted and submitted ==
    is_last_step, so it is identically zero and omitted.
    """
    over_exposure = tf.reduce_mean(tf.square(tf.nn.relu(output - 1.0)), axis=[1, 2, 3])
    n = onehot.shape[-1]
    low_entropy = (1.0 - progress) * cfg.exploration_penalty * (math.log(n) - entropy(pi))
    reuse = cfg.filter_usage_penalty * tf.reduce_sum(states[:, USAGE:] * onehot, axis=1)
    return over_exposure + low_entropy + reuse


def apply_chosen(filters, images, raw, action):
    """Each image through its chosen filter alone -> (B, H, W, 3). The original runs all 8 filters on
    every image and keeps one by a one-hot sum (spec 4.3): the same outputs and the same gradients (only
    the chosen filter's parameters get any), but with an eighth of the filter work, which made an
    actor update faster (docs/PERFORMANCE.md); and a filter that overflows
    on an image it was not chosen for cannot turn the sum into NaN (0 x inf)."""
    n = len(filters)
    groups = tf.dynamic_partition(images, action, n)
    positions = tf.dynamic_partition(tf.range(tf.shape(images)[0]), action, n)
    outputs = [f.apply(x, tf.dynamic_partition(r, action, n)[j])
               for j, (f, x, r) in enumerate(zip(filters, groups, raw))]
    return tf.ensure_shape(tf.dynamic_stitch(positions, outputs), images.shape)


def act(actor, filters, cfg, images, states, u, seed, sample, progress):
    """One agent step on a batch.

    images (B, H, W, 3) float32, states (B, 11), u (B,) uniforms for sampling, seed int (2,) or (B, 2) for
    dropout, sample: bool tensor (sample the action, else argmax), progress: training progress in [0, 1].
    Returns a dict: output, new_states, action, pi, log_pi (the REINFORCE surrogate log pi(a)), entropy,
    penalty, raw (list of 8 pre-activation tensors).
    """
    raw, logits = actor(images, states, seed)
    pi = policy(logits, cfg.exploration)
    action = tf.where(sample, sample_action(pi, u), tf.argmax(pi, axis=1, output_type=tf.int32))
    onehot = tf.one_hot(action, len(filters))
    output = apply_chosen(filters, images, raw, action)
    if cfg.clamp:
        output = tf.clip_by_value(output, 0.0, 5.0)
    return dict(output=output, new_states=next_states(states, onehot, cfg.test_steps), action=action, pi=pi,
                log_pi=tf.reduce_sum(onehot * tf.math.log(pi + 1e-10), axis=1), entropy=entropy(pi),
                penalty=penalties(cfg, output, states, onehot, pi, progress), raw=raw)
