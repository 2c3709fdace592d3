"""The actor and critic networks against spec 4 and 11.5: sizes, the state machine, the policy, action
sampling, the one-hot output, penalties, and seeded dropout."""
import math

import numpy as np
import pytest
import tensorflow as tf

import agent
import configurator
import critic
import filters
import layers

CFG = configurator.load_config('example', ['--seed=0'])
FILTERS = filters.build_filters(CFG)


def size(module):
    return sum(int(np.prod(v.shape)) for v in module.trainable_variables)


@pytest.fixture(scope='module')
def nets():
    rng = tf.random.Generator.from_seed(0)
    return (agent.Actor(CFG, FILTERS, rng), critic.Critic(CFG, 0, rng, name='critic'),
            critic.Critic(CFG, CFG.num_state_dim, rng, name='rl_value'))


def test_parameter_counts_and_shapes(nets):
    actor, disc, value = nets
    assert (size(actor), size(disc), size(value)) == (6_123_680, 1_216_225, 1_221_857)   # spec 11.5
    assert size(actor.features) == size(actor.selector_features) == 695_776               # spec 4.2
    assert actor.features.convs[0].kernel.shape == (4, 4, 14, 32)
    assert (disc.input_channels, value.input_channels) == (6, 17)
    assert [c.kernel.shape[-1] for c in disc.tower.convs] == [32, 64, 128, 256]
    assert [d.kernel.shape[-1] for d in actor.filter_fc2] == [7, 7, 9, 7, 14, 7, 7, 30]
    assert actor.selector_fc2.kernel.shape == (128, 8)
    assert all(float(tf.reduce_max(tf.abs(v))) == 0 for v in actor.trainable_variables if 'biases' in v.name)


def test_glorot_uniform_range(nets):
    kernel = nets[0].features.convs[1].kernel.numpy()          # [4, 4, 32, 64]
    limit = math.sqrt(6 / (16 * 32 + 16 * 64))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit


def test_state_transitions_over_an_episode():
    states = tf.zeros([2, 11])
    actions = [[0, 4], [0, 7], [3, 4], [1, 2], [5, 5]]
    for t, a in enumerate(actions, start=1):
        states = agent.next_states(states, tf.one_hot(a, 8), CFG.test_steps)
        s = states.numpy()
        done = float(t == 5)
        np.testing.assert_array_equal(s[:, :3], [[done, done, t]] * 2)
    np.testing.assert_array_equal(s[0, 3:], [1, 1, 0, 1, 0, 1, 0, 0])   # filters 0, 1, 3, 5 used
    np.testing.assert_array_equal(s[1, 3:], [0, 0, 1, 0, 1, 1, 0, 1])   # filters 2, 4, 5, 7 used


def test_policy_mixes_in_exploration():
    pi = agent.policy(tf.constant([[100.0] + [0.0] * 7, [0.0] * 8]), 0.05).numpy()
    np.testing.assert_allclose(pi[0], [0.95 + 0.05 / 8] + [0.05 / 8] * 7, rtol=1e-5)
    np.testing.assert_allclose(pi[1], [1 / 8] * 8, rtol=1e-6)
    np.testing.assert_allclose(pi.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(agent.entropy(tf.constant(pi)).numpy()[1], math.log(8), rtol=1e-6)


def test_inverse_cdf_sampling():
    pi = tf.constant([[0.1, 0.2, 0.3, 0.4, 0, 0, 0, 0]] * 5)
    u = tf.constant([0.05, 0.15, 0.35, 0.65, 0.999])
    np.testing.assert_array_equal(agent.sample_action(pi, u).numpy(), [0, 1, 2, 3, 3])
    many = tf.random.stateless_uniform([20000], [1, 2])
    counts = np.bincount(agent.sample_action(tf.tile(pi[:1], [20000, 1]), many).numpy(), minlength=8) / 20000
    np.testing.assert_allclose(counts, pi[0].numpy(), atol=0.015)


def test_act_outputs_the_chosen_filter_and_penalties(nets):
    actor = nets[0]
    rng = np.random.default_rng(1)
    images = tf.constant(rng.random((6, 64, 64, 3), dtype=np.float32) * 1.5)    # some values above 1
    states = np.zeros((6, 11), np.float32)
    states[:, agent.USAGE:] = 1.0                                               # every filter already used
    u = tf.constant(rng.random(6, dtype=np.float32))
    seed = tf.constant([3, 4], tf.int64)
    for sample in (True, False):
        step = agent.act(actor, FILTERS, CFG, images, states, u, seed, tf.constant(sample), 0.25)
        pi, action = step['pi'].numpy(), step['action'].numpy()
        expected = agent.sample_action(step['pi'], u).numpy() if sample else pi.argmax(1)
        np.testing.assert_array_equal(action, expected)
        for i, a in enumerate(action):
            alone = FILTERS[a].apply(images[i:i + 1], step['raw'][a][i:i + 1])
            np.testing.assert_allclose(step['output'][i:i + 1].numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
        out = step['output'].numpy()
        over = (np.maximum(out - 1, 0) ** 2).mean(axis=(1, 2, 3))
        ent = -(pi * np.log(pi)).sum(1)
        np.testing.assert_allclose(step['penalty'].numpy(), over + 0.75 * 0.05 * (math.log(8) - ent) + 1.0,
                                   rtol=1e-5)
        np.testing.assert_allclose(step['log_pi'].numpy(), np.log(pi[np.arange(6), action] + 1e-10), rtol=1e-5)
        np.testing.assert_array_equal(step['new_states'].numpy()[:, 2], 1)


@pytest.mark.parametrize('in_graph', [False, True], ids=['eager', 'tf.function'])
def test_applying_the_chosen_filter_alone_equals_the_one_hot_sum_of_all(in_graph):
    # Spec 4.3 runs all 8 filters and keeps one by a one-hot sum; agent.apply_chosen runs the chosen
    # one per image. Same outputs, same gradients for every filter's parameters (zero for those that
    # no image chose, filters 6 and 7 here), in eager mode and in a graph (unknown group sizes).
    rng = np.random.default_rng(2)
    images = tf.constant(rng.random((9, 16, 16, 3), dtype=np.float32) * 1.2)
    raw = [tf.constant(rng.normal(size=(9, f.num_params)).astype(np.float32)) for f in FILTERS]
    action = tf.constant([0, 3, 1, 5, 3, 2, 4, 0, 1], tf.int32)

    def both(raw):
        onehot = tf.one_hot(action, len(FILTERS))
        outputs = tf.stack([f.apply(images, r) for f, r in zip(FILTERS, raw)], axis=1)
        return agent.apply_chosen(FILTERS, images, raw, action), tf.reduce_sum(onehot[:, :, None, None, None] * outputs, 1)

    def gradients(raw):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(raw)
            chosen, summed = both(raw)
            weights = tf.cos(tf.range(tf.size(chosen), dtype=tf.float32))
            losses = [tf.reduce_sum(tf.reshape(y, [-1]) * weights) for y in (chosen, summed)]
        return (chosen, summed), [tape.gradient(loss, raw) for loss in losses]
    (chosen, summed), (g_chosen, g_summed) = (tf.function(gradients) if in_graph else gradients)(raw)
    np.testing.assert_allclose(chosen.numpy(), summed.numpy(), rtol=1e-6, atol=1e-7)
    for j, (a, b) in enumerate(zip(g_chosen, g_summed)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        assert (np.abs(a.numpy()).sum() > 0) == (j in action.numpy()), j


def test_dropout_is_on_and_seeded(nets):
    actor = nets[0]
    images = tf.random.stateless_uniform([2, 64, 64, 3], [0, 1])
    states = tf.zeros([2, 11])
    a = actor(images, states, tf.constant([5, 6], tf.int64))
    b = actor(images, states, tf.constant([5, 6], tf.int64))
    c = actor(images, states, tf.constant([5, 7], tf.int64))
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert np.abs(a[1].numpy() - c[1].numpy()).max() > 1e-4
    assert np.abs(a[0][0].numpy() - c[0][0].numpy()).max() > 1e-4


def test_critic_statistics():
    rng = np.random.default_rng(2)
    img = rng.random((2, 8, 8, 3)).astype(np.float32) * 1.2
    stats = critic.image_statistics(tf.constant(img)).numpy()
    lum = img @ np.array([0.27, 0.67, 0.06], np.float32) + 1e-5
    x = np.clip(img, 0, 1)
    hi, lo = x.max(-1), x.min(-1)
    sat = (hi - lo) / (np.minimum(hi + lo, 2 - hi - lo) + 0.01)
    np.testing.assert_allclose(stats, np.stack([lum.mean((1, 2)), lum.var((1, 2)), sat.mean((1, 2))], 1),
                               rtol=1e-4)


@pytest.mark.parametrize('size', [(64, 64), (7, 9)])
def test_conv_with_constant_planes_equals_concatenating_them(size):
    """The first layer's analytic plane response: same output and gradients (image, plane values,
    kernel) as convolving the image with the planes built and concatenated, borders included."""
    conv = layers.Conv(3 + 5, 16, tf.random.Generator.from_seed(0))
    rng = np.random.default_rng(1)
    x = tf.constant(rng.random((4, *size, 3)), tf.float32)
    values = tf.constant(rng.random((4, 5)) - 0.5, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, values])
        analytic = conv(x, values)
        planes = tf.broadcast_to(values[:, None, None, :], [4, *size, 5])
        built = conv(tf.concat([x, planes], axis=-1))
        losses = [tf.reduce_sum(tf.square(y)) for y in (analytic, built)]
    np.testing.assert_allclose(analytic.numpy(), built.numpy(), rtol=1e-5, atol=1e-5)
    for var in (x, values, conv.kernel):
        a, b = (tape.gradient(loss, var).numpy() for loss in losses)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def second_order(conv, x, kernel, kernel_penalty=True):
    """conv's output, input and kernel gradients, and gradient-penalty-style second derivatives (of the
    input gradient, as training's penalty, and with kernel_penalty of the kernel gradient too)."""
    with tf.GradientTape() as outer:
        outer.watch([x, kernel])
        with tf.GradientTape() as inner:
            inner.watch([x, kernel])
            y = conv(x, kernel)
            loss = tf.reduce_sum(tf.sin(y))
        dx, dkernel = inner.gradient(loss, [x, kernel])
        penalty = tf.reduce_sum(tf.square(dx)) + (tf.reduce_sum(tf.cos(dkernel)) if kernel_penalty else 0)
    return [y, dx, dkernel, *outer.gradient(penalty, [x, kernel])]


# (way of the input gradient, way of the filter gradient): each alone and mixed, as tune_gradients may pick.
WAYS = [('forward', 'forward'), ('tensorflow', 'tensorflow'), ('tensorflow', 'forward'), ('forward', 'tensorflow')]


@pytest.mark.parametrize('ways', WAYS)
@pytest.mark.parametrize('shape', [(2, 8, 8, 3, 5), (2, 7, 9, 4, 6), (1, 5, 6, 2, 3)])
def test_conv_gradients_match_tensorflow_to_second_order(shape, ways, monkeypatch):
    """layers.conv's gradients, each computed in the forward form (forward convolutions in place of
    TensorFlow's gradient kernels) or by TensorFlow's kernels, as GRADIENT_KERNELS says: same output,
    input and kernel gradients, and second derivatives as tf.nn.conv2d under autodiff, at even and odd
    sizes (SAME pads those unevenly), in float64; and each gradient runs the kernels chosen for it."""
    batch, height, width, channels_in, channels_out = shape
    rng = np.random.default_rng(4)
    x = tf.constant(rng.standard_normal((batch, height, width, channels_in)))
    kernel = tf.constant(rng.standard_normal((4, 4, channels_in, channels_out)))
    monkeypatch.delenv('EXPOSURE_CONV_GRADIENTS', raising=False)
    for gradient, way in zip(('input', 'filter'), ways):
        monkeypatch.setitem(layers.GRADIENT_KERNELS,
                            (gradient, height, width, channels_in, channels_out, 'float64'), way)

    tensorflows = second_order(lambda x, kernel: tf.nn.conv2d(x, kernel, strides=2, padding='SAME'), x, kernel)
    # The derivatives training takes (no penalty on the kernel gradient) run the kernels chosen; the
    # kernel derivative of TensorFlow's input-gradient kernel is its filter-gradient kernel.
    training = tf.function(lambda x, kernel: second_order(layers.conv, x, kernel, kernel_penalty=False))
    ops = {op.type for op in training.get_concrete_function(x, kernel).graph.get_operations()}
    assert ('Conv2DBackpropInput' in ops) == (ways[0] == 'tensorflow')
    assert ('Conv2DBackpropFilter' in ops) == ('tensorflow' in ways)
    known = tf.function(lambda x, kernel: second_order(layers.conv, x, kernel))
    # Sizes known when tracing (eager) and unknown (a graph with free sizes, as evaluate.py's views: no
    # shape to look up, so the forward form).
    unknown = tf.function(lambda x, kernel: second_order(layers.conv, x, kernel), input_signature=[
        tf.TensorSpec([None] * 4, tf.float64), tf.TensorSpec(kernel.shape, tf.float64)])
    for ours in (second_order(layers.conv, x, kernel), known(x, kernel), unknown(x, kernel)):
        for a, b in zip(ours, tensorflows):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_tune_gradients_keeps_the_faster_way_of_each_gradient(monkeypatch):
    """tune_gradients records, for every shape and gradient, the way that timed faster (timings faked
    here: the real ones vary by CPU), and EXPOSURE_CONV_GRADIENTS overrides both the timing and the table."""
    monkeypatch.delenv('EXPOSURE_CONV_GRADIENTS', raising=False)
    monkeypatch.setattr(layers, 'GRADIENT_KERNELS', {})
    # Timed per shape in gradient_passes' order: input tensorflow, input forward, filter tensorflow, filter forward.
    fake_ms = iter([1.0, 2.0, 3.0, 1.5,    2.0, 1.0, 1.0, 2.0])
    monkeypatch.setattr(layers, 'median_ms', lambda fn, repeats: next(fake_ms))
    shapes = layers.tower_shapes(16, 4)[:2]
    assert shapes == [(16, 16, 3, 4), (8, 8, 4, 8)]
    line = layers.tune_gradients(shapes, 2, tf.float32)
    assert layers.GRADIENT_KERNELS == {('input', 16, 16, 3, 4, 'float32'): 'tensorflow',
                                       ('filter', 16, 16, 3, 4, 'float32'): 'forward',
                                       ('input', 8, 8, 4, 8, 'float32'): 'forward',
                                       ('filter', 8, 8, 4, 8, 'float32'): 'tensorflow'}
    assert '3->4 at 16x16 input tensorflow (2.0/1.0), filter forward (1.5/3.0)' in line
    x, kernel = tf.zeros([2, 16, 16, 3]), tf.zeros([4, 4, 3, 4])
    assert layers.gradient_way('input', x, kernel) == 'tensorflow'
    assert layers.gradient_way('input', tf.zeros([2, 16, 16, 3], tf.bfloat16), kernel) == 'forward'  # not timed
    monkeypatch.setenv('EXPOSURE_CONV_GRADIENTS', 'forward')
    assert layers.gradient_way('input', x, kernel) == 'forward'
    assert 'EXPOSURE_CONV_GRADIENTS' in layers.tune_gradients(shapes, 2, tf.float32)
    monkeypatch.setenv('EXPOSURE_CONV_GRADIENTS', 'fast')
    with pytest.raises(ValueError, match='use forward or tensorflow'):
        layers.gradient_way('input', x, kernel)


def test_tune_gradients_times_real_kernels(monkeypatch):
    """Unfaked, on this CPU: one recorded way per gradient and shape, and a log line naming each."""
    monkeypatch.delenv('EXPOSURE_CONV_GRADIENTS', raising=False)
    monkeypatch.setattr(layers, 'GRADIENT_KERNELS', {})
    line = layers.tune_gradients(layers.tower_shapes(16, 4), 2, tf.float32, repeats=1)
    assert len(layers.GRADIENT_KERNELS) == 8 and set(layers.GRADIENT_KERNELS.values()) <= set(layers.GRADIENT_WAYS)
    assert line.count(' input ') == 4 and line.count(', filter ') == 4


@pytest.mark.parametrize('dtype', [tf.float32, tf.bfloat16])    # (TensorFlow's slope is a float32)
def test_lrelu_matches_leaky_relu_to_second_order(dtype):
    """layers.lrelu takes its derivative from the output: same values, gradients and gradient-penalty
    second derivatives as tf.nn.leaky_relu(alpha=0.2), zeros and tiny negatives included."""
    x = tf.constant(np.concatenate([np.random.default_rng(6).standard_normal(64), [0, -0.0, 1e-30, -1e-30]]),
                    dtype)
    weights = tf.constant(np.linspace(-1, 1, 68), dtype)

    def orders(f):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
                loss = tf.reduce_sum(tf.sin(y) * weights)
            dx = inner.gradient(loss, x)
            penalty = tf.reduce_sum(tf.square(dx * weights))
        return y, dx, outer.gradient(penalty, x)
    for a, b in zip(orders(layers.lrelu), orders(lambda x: tf.nn.leaky_relu(x, alpha=0.2))):
        assert a.dtype == dtype
        np.testing.assert_array_equal(tf.cast(a, tf.float64).numpy(), tf.cast(b, tf.float64).numpy())


def test_conv_gradients_in_bfloat16_are_accurate():
    """Under mixed precision layers.conv's gradients are bfloat16 convolutions; they must still sum in
    float32 (as oneDNN's forward kernels do) and be off by little more than the output's own rounding
    (2^-9 relative, about 0.2% RMS), not accumulate rounding over the thousands of terms of a sum."""
    rng = np.random.default_rng(5)
    x, kernel, dy = (rng.standard_normal(shape) for shape in ((16, 16, 16, 32), (4, 4, 32, 64), (16, 8, 8, 64)))
    as_bf16 = lambda a: tf.cast(tf.constant(a, tf.float32), tf.bfloat16)
    kwargs = dict(strides=[1, 2, 2, 1], padding='SAME')
    exact = (tf.raw_ops.Conv2DBackpropInput(input_sizes=x.shape, filter=kernel, out_backprop=dy, **kwargs),
             tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=kernel.shape, out_backprop=dy, **kwargs))
    ours = (layers.conv_transpose(as_bf16(dy), as_bf16(kernel), x.shape[1:3]),
            layers.filter_gradient(as_bf16(x), as_bf16(kernel), as_bf16(dy)))
    for a, b in zip(ours, exact):
        error = tf.cast(a, tf.float64) - b
        assert a.dtype == tf.bfloat16
        assert np.sqrt(np.mean(error.numpy() ** 2) / np.mean(b.numpy() ** 2)) < 5e-3


def test_fused_critic_statistics_match_op_by_op_to_second_order():
    """The XLA-compiled statistics the critic uses: same values, gradients and gradient-penalty-style
    second derivatives as the op-by-op function (pixels outside [0, 1] exercise the clip)."""
    x = tf.constant(np.random.default_rng(3).random((4, 16, 16, 3)).astype(np.float32) * 1.3 - 0.1)
    weights = tf.constant([1.0, 30.0, 2.0])

    def derivatives(statistics):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                s = tf.reduce_sum(statistics(x) * weights)
            g = inner.gradient(s, x)
            norm = tf.reduce_sum(tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2, 3])))
        return statistics(x).numpy(), g.numpy(), outer.gradient(norm, x).numpy()

    for fused, plain in zip(derivatives(critic.fused_image_statistics), derivatives(critic.image_statistics)):
        assert np.abs(plain).max() > 1e-3
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-6 * np.abs(plain).max())
