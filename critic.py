"""The critic network of spec 4.4-4.5, built twice.

The same network judges images twice over: as the critic (the WGAN discriminator; `critic/`, RGB + 3
global statistics, 6 input channels) and as the value network (the RL state value; `rl_value/critic/`,
RGB + 11 state planes + 3 statistics, 17 channels). Its layers are layers.py's.
"""
import tensorflow as tf

import util
from layers import ConvTower, Dense, lrelu
from util import lum


def image_statistics(images):
    """(B, 3): mean luminance, population variance of luminance, mean HSL-style saturation (spec 4.4)."""
    l = lum(images) + 1e-5
    mean_l, var_l = tf.nn.moments(l, axes=[1, 2, 3])
    x = tf.clip_by_value(images, 0.0, 1.0)
    hi, lo = tf.reduce_max(x, axis=-1), tf.reduce_min(x, axis=-1)
    sat = (hi - lo) / (tf.minimum(hi + lo, 2.0 - hi - lo) + 0.01)
    return tf.stack([mean_l, var_l, tf.reduce_mean(sat, axis=[1, 2])], axis=1)


# The statistics are some twenty element-wise ops over the whole image, and the gradient penalty
# differentiates them twice: run op by op they were a large share of a training iteration
# (docs/PERFORMANCE.md). XLA fuses them, and their derivatives, into a few loops (bench/train_step.py
# measures the iteration; the results agree with the op-by-op version to float32 round-off). Only this
# part is compiled: XLA's own convolutions are slower here than oneDNN's.
fused_image_statistics = tf.function(image_statistics, jit_compile=True, autograph=False)


class Critic(tf.Module):
    """D(image) or V(image, state): RGB [+ state planes] + statistic planes, minus 0.5 -> conv tower ->
    FC 128 lrelu -> FC 1. Returns float32 scores of shape (B,). No dropout, no normalization."""

    def __init__(self, cfg, num_state_dim, rng, name):
        super().__init__(name=name)
        self.num_state_dim = num_state_dim
        dtype = util.compute_dtype(cfg.mixed_precision)
        channels = 3 + num_state_dim + 3
        self.tower = ConvTower(channels, rng, dtype, cfg.base_channels)
        self.fc1 = Dense(cfg.feature_extractor_dims, cfg.fc1_size, rng, dtype, name='fully_connected')
        self.fc2 = Dense(cfg.fc1_size, 1, rng, dtype, name='fully_connected_1')

    @property
    def input_channels(self):
        return self.tower.convs[0].kernel.shape[2]

    def __call__(self, images, states=None):
        statistics = fused_image_statistics(images)
        planes = tf.concat([states, statistics], axis=1) if self.num_state_dim else statistics
        x = lrelu(self.fc1(self.tower(images, planes)))
        return tf.cast(self.fc2(x)[:, 0], tf.float32)
