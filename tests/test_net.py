"""The model as a whole against spec 5, 10 and 11.5: learning rates, which variables each update
touches, the one-sided gradient penalty, the EMA, seeded rollouts, checkpoints, the original TF1
checkpoint's names and layouts, and mixed precision."""
import os

import numpy as np
import pytest
import tensorflow as tf

import configurator
import net
import util
from conftest import SHARED_DATA

ORIGINAL_INDEX = os.path.join(SHARED_DATA, 'original_checkpoint', 'model.ckpt-20000')
B = 4


def config(**overrides):
    return configurator.load_config('example', ['--seed=0'] + [f'--{k}={v}' for k, v in overrides.items()])


@pytest.fixture(scope='module')
def gan():
    return net.GAN(config())


def batch(seed, b=B):
    rng = np.random.default_rng(seed)
    images = rng.random((b, 64, 64, 3), dtype=np.float32) * 0.6
    states = np.zeros((b, 11), np.float32)
    states[:, 2] = np.arange(b) % 5
    states[b - 1, 3] = 1.0
    return images, states, rng.random((b, 131), dtype=np.float32)


def all_variables(g):
    """Networks, optimizer slots, EMA and iteration counter: everything a full checkpoint holds."""
    return (list(g.actor.trainable_variables + g.critic.trainable_variables + g.value.trainable_variables)
            + [v.value for o in (g.actor_optimizer, g.value_optimizer, g.critic_optimizer) for v in o.variables]
            + [g.ema_biased, g.ema_steps, g.iteration])


def snapshot(module):
    return {id(v): v.numpy().copy() for v in module.trainable_variables}


def changed(before, module):
    return [not np.array_equal(before[id(v)], v.numpy()) for v in module.trainable_variables]


def test_learning_rates():
    cfg = config()
    expected = [1.5e-5, 1.5e-6, 1.5e-7, 1.5e-8]
    for t, lr in zip([0, 6667, 13333, 20000], expected):
        lr_g, lr_v, lr_c = net.learning_rates(cfg, t)
        np.testing.assert_allclose([lr_g, lr_v, lr_c], [lr, 10 * lr, lr / 0.3], rtol=1e-3)


def test_optimizers_are_tf1_adam(gan):
    for opt in (gan.actor_optimizer, gan.value_optimizer, gan.critic_optimizer):
        assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.5, 0.9, 1e-8)


def test_actor_step_updates_only_actor_and_value(gan):
    images, states, noise = batch(0)
    before = {m: snapshot(m) for m in (gan.actor, gan.value, gan.critic)}
    # Iteration 0's warm-up: learning rate 0 moves no weight, but Adam counts the step.
    steps = int(gan.actor_optimizer.iterations.numpy())
    warm = gan.actor_step(images, states, noise, 0.0, 0.0, 0.0)
    assert not any(changed(before[gan.actor], gan.actor)) and not any(changed(before[gan.value], gan.value))
    assert int(gan.actor_optimizer.iterations.numpy()) == steps + 1
    out = gan.actor_step(images, states, noise, 1e-3, 1e-2, 0.5)
    assert all(changed(before[gan.value], gan.value))
    assert not any(changed(before[gan.critic], gan.critic))
    assert out['fake_output'].shape == (B, 64, 64, 3) and out['new_states'].shape == (B, 11)
    np.testing.assert_array_equal(out['new_states'].numpy()[:, 2], states[:, 2] + 1)
    assert np.isfinite([float(out[k]) for k in ('g_loss', 'v_loss', 'reward')]).all()
    # Deterministic policy gradient: only the heads of chosen filters get gradient (through Adam's moments
    # those chosen in the warm-up step move too); the selector always does.
    chosen = set(out['action'].numpy().tolist()) | set(warm['action'].numpy().tolist())
    assert len(chosen) < 8
    agent = gan.actor
    for j, (fc1, fc2) in enumerate(zip(agent.filter_fc1, agent.filter_fc2)):
        for layer in (fc1, fc2):
            moved = not np.array_equal(layer.kernel.numpy(), before[agent][id(layer.kernel)])
            assert moved == (j in chosen), (j, chosen)
    # Adam moves each weight by about the learning rate (at most lr (1 - beta1) / sqrt(1 - beta2)).
    delta = np.abs(agent.selector_fc2.kernel.numpy() - before[agent][id(agent.selector_fc2.kernel)])
    assert 0.3e-3 < delta.max() < 1.6e-3
    # Another batch size and other learning rates reuse the same graph.
    gan.actor_step(*batch(1, b=2), 2e-6, 2e-5, 0.7)
    assert gan._actor_step.experimental_get_tracing_count() == 1


def test_critic_steps_update_only_the_critic(gan):
    rng = np.random.default_rng(3)
    fake, real = (rng.random((3, B, 64, 64, 3), dtype=np.float32) for _ in range(2))
    before = {m: snapshot(m) for m in (gan.actor, gan.value, gan.critic)}
    ema_steps, c_steps = float(gan.ema_steps.numpy()), int(gan.critic_optimizer.iterations.numpy())
    out = gan.critic_steps(fake[:1], real[:1], 1e-3)
    # Every weight but the output bias, whose gradient mean(1) - mean(1) is zero in a WGAN critic.
    moved = dict(zip(map(id, gan.critic.trainable_variables), changed(before[gan.critic],
                                                                          gan.critic)))
    assert not moved.pop(id(gan.critic.fc2.bias)) and all(moved.values())
    assert not any(changed(before[gan.actor], gan.actor)) and not any(changed(before[gan.value], gan.value))
    out = gan.critic_steps(fake[1:], real[1:], 1e-3)                 # k = 2 in one call, same graph
    assert int(gan.critic_optimizer.iterations.numpy()) == c_steps + 3
    assert float(gan.ema_steps.numpy()) == ema_steps + 3
    assert gan._critic_steps.experimental_get_tracing_count() == 1
    assert set(out) == {'c_loss', 'emd', 'gp', 'grad_norm'}


def test_ema_is_zero_debiased():
    g = net.GAN(config())
    rng = np.random.default_rng(4)
    fake, real = (rng.random((1, B, 64, 64, 3), dtype=np.float32) for _ in range(2))
    mean = (g.score(fake[0]).mean() + g.score(real[0]).mean()) / 2
    assert g.ema_score == 0.0
    out = g.critic_steps(fake, real, 0.0)
    np.testing.assert_allclose(g.ema_score, mean, rtol=1e-4)
    # fake and real go through the critic as one batch: each keeps its own scores.
    emd = g.score(real[0]).mean() - g.score(fake[0]).mean()
    np.testing.assert_allclose(float(out['emd']), emd, rtol=1e-4, atol=1e-6)
    g.critic_steps(fake, real, 0.0)                                  # lr 0: same scores again
    np.testing.assert_allclose(g.ema_score, mean, rtol=1e-4)


def test_gradient_penalty_is_one_sided(gan):
    # fake == real makes the mixed images equal to real whatever alpha is, so ||g|| is known.
    real = np.random.default_rng(5).random((1, B, 64, 64, 3), dtype=np.float32)
    fc2 = gan.critic.fc2.kernel
    saved = fc2.numpy()
    try:
        for scale, penalised in ((1.0, False), (3000.0, True)):
            fc2.assign(saved * scale)
            g = gan.image_gradient(real[0])
            norm = np.sqrt(1e-6 + (g.astype(np.float64) ** 2).sum(axis=(1, 2, 3)))
            assert (norm > 1).any() == penalised, norm
            out = gan.critic_steps(real, real, 0.0)
            np.testing.assert_allclose(float(out['grad_norm']), norm.mean(), rtol=1e-3)
            np.testing.assert_allclose(float(out['gp']), 10 * np.mean(np.maximum(norm - 1, 0) ** 2), rtol=1e-3)
            assert (float(out['gp']) > 0) == penalised
            np.testing.assert_allclose(float(out['c_loss']), float(out['gp']) - float(out['emd']), rtol=1e-5)
    finally:
        fc2.assign(saved)


def test_rollout_dropout_seed_and_argmax(gan):
    images = batch(6, b=3)[0]
    a = gan.rollout(images, seed=11)
    b = gan.rollout(images, seed=11)
    c = gan.rollout(images)
    d = gan.rollout(images[:2])
    assert len(a) == 5 and gan._step.experimental_get_tracing_count() == 1
    for sa, sb in zip(a, b):
        for key in ('output', 'states', 'pdf', 'score', 'value', 'reward', 'action'):
            np.testing.assert_array_equal(sa[key], sb[key])
    assert np.abs(a[0]['output'] - c[0]['output']).max() > 1e-6      # dropout is on at evaluation
    assert d[0]['output'].shape == (2, 64, 64, 3)
    for i, s in enumerate(a):
        np.testing.assert_array_equal(s['action'], s['pdf'].argmax(1))   # evaluation takes the argmax
        np.testing.assert_array_equal(s['states'][:, 2], i + 1)
        np.testing.assert_array_equal(s['input'], images if i == 0 else a[i - 1]['output'])
        assert [p.shape for p in s['params']] == [(3, n) for n in (1, 1, 3, 1, 8, 1, 1, 24)]
        np.testing.assert_allclose(s['score'], gan.score(s['output']), rtol=1e-5, atol=1e-7)
    assert (np.abs(a[0]['params'][0]) < 3.5).all()                       # exposure in EV
    np.testing.assert_array_equal(a[-1]['states'][:, :2], 1)             # finished after 5 steps
    sampled = gan.rollout(images, is_train=True, seed=11)
    assert any((s['action'] != s['pdf'].argmax(1)).any() for s in sampled)   # near-uniform pi: samples differ
    assert gan._step.experimental_get_tracing_count() == 1


def test_checkpoints_round_trip(gan, tmp_path):
    images = batch(7, b=2)[0]
    gan.iteration.assign(42)
    manager = gan.make_manager(str(tmp_path / 'full'))
    manager.save(checkpoint_number=500)
    gan.save_actor(str(tmp_path / 'actor' / 'model.ckpt-20000'))     # a shipped, inference-only model
    expected = gan.rollout(images, seed=3)

    other = net.GAN(config(seed=1))
    assert other.restore(str(tmp_path / 'empty')) is None
    with pytest.raises(ValueError, match='available steps: 500'):
        other.restore(str(tmp_path / 'full'), step=400)
    with pytest.raises(ValueError, match='load_actor'):
        other.restore(str(tmp_path / 'actor'))
    for source in (str(tmp_path / 'actor' / 'model.ckpt-20000'), str(tmp_path / 'actor'), str(tmp_path / 'full')):
        fresh = net.GAN(config(seed=2), training=False)     # inference only: no optimizer slots
        fresh.load_actor(source)
        got = fresh.rollout(images, seed=3)
        for s, e in zip(got, expected):
            np.testing.assert_array_equal(s['output'], e['output'])
            np.testing.assert_array_equal(s['pdf'], e['pdf'])
    assert other.restore(str(tmp_path / 'full')) == 500
    assert int(other.iteration.numpy()) == 42
    for a, b in zip(all_variables(gan), all_variables(other)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not net.is_original_checkpoint(str(tmp_path / 'actor' / 'model.ckpt-20000'))
    assert sorted(os.listdir(tmp_path / 'actor')) == ['model.ckpt-20000.data-00000-of-00001',
                                                       'model.ckpt-20000.index']
    with pytest.raises(ValueError, match='no such checkpoint'):
        fresh.load_actor(str(tmp_path / 'nothing'))
    with pytest.raises(ValueError, match='Received incompatible tensor'):
        net.GAN(config(curve_steps=4)).load_actor(str(tmp_path / 'actor'))


def test_half_actor_is_cast_back_on_load(gan, tmp_path):
    """save_actor(float16) stores every agent weight as float16 (half the file); load_actor gives the
    float32 agent those rounded values, so it runs as the float32 model with rounded weights does."""
    import tensorflow as tf
    full, half = str(tmp_path / 'full' / 'actor'), str(tmp_path / 'half' / 'actor')
    gan.save_actor(full)
    gan.save_actor(half, tf.float16)
    dtypes = tf.train.load_checkpoint(half).get_variable_to_dtype_map()
    assert {d for name, d in dtypes.items() if name.startswith('agent/')} == {tf.float16}
    size = lambda prefix: os.path.getsize(prefix + '.data-00000-of-00001')
    assert size(half) < 0.51 * size(full)
    loaded = net.GAN(config(seed=2), training=False)
    loaded.load_actor(half)
    assert all(v.dtype == tf.float32 for v in loaded.actor.variables)
    for got, weight in zip(loaded.actor.variables, gan.actor.variables):
        np.testing.assert_array_equal(got.numpy(), weight.numpy().astype(np.float16).astype(np.float32))
    assert any((w.numpy() != w.numpy().astype(np.float16)).any() for w in gan.actor.variables)  # rounding happened
    images = batch(7, b=2)[0]
    for a, b in zip(loaded.rollout(images, seed=3), gan.rollout(images, seed=3)):
        np.testing.assert_allclose(a['output'], b['output'], atol=2e-3)


# ----------------------------------------------------------------------------------------------
# The original TF1 checkpoint: names, shapes and layouts

def test_original_map_matches_the_real_index(gan):
    if not os.path.exists(ORIGINAL_INDEX + '.index'):
        pytest.skip('../shared/data/original_checkpoint is absent')
    index = dict(tf.train.list_variables(ORIGINAL_INDEX))
    mapping = net.original_variable_map(gan)
    for name, var in mapping.items():
        assert name in index, name
        assert list(index[name]) == var.shape.as_list(), name
    # Every weight is mapped; left out are optimizer slots, step counters and the EMA's unbiased copy.
    weights = {n for n in index if not n.startswith(('OptimizeLoss', 'Variable'))}
    assert weights - set(mapping) == {'mul_8/ExponentialMovingAverage'}


def np_conv(x, w, b):
    """TF1 conv2d 4x4 stride 2 SAME (pads 1 before and 1 after for even sizes), NHWC."""
    n, h, wd, _ = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h // 2, wd // 2, w.shape[-1]))
    for i in range(4):
        for j in range(4):
            out += p[:, i:i + h:2, j:j + wd:2, :] @ w[i, j]
    return out + b


def np_lrelu(x):
    return 0.6 * x + 0.4 * np.abs(x)


def np_tower(x, weights, scope):
    for i, suffix in enumerate(['', '_1', '_2', '_3']):
        x = np_lrelu(np_conv(x, weights[f'{scope}/Conv{suffix}/weights'], weights[f'{scope}/Conv{suffix}/biases']))
    return x.reshape(len(x), -1)        # row-major (H, W, C)


def np_dense(x, weights, scope):
    return x @ weights[f'{scope}/weights'] + weights[f'{scope}/biases']


def planes(values):
    return np.broadcast_to(values[:, None, None, :], (len(values), 64, 64, values.shape[1]))


def test_load_original_checkpoint_lands_every_weight(gan, tmp_path):
    g = net.GAN(config(seed=3))
    rng = np.random.default_rng(8)
    mapping = net.original_variable_map(g)
    weights = {n: (rng.standard_normal(v.shape.as_list()) * 0.05).astype(np.float32) for n, v in mapping.items()}
    weights['mul_8/ExponentialMovingAverage/biased'] = np.float32(0.3)
    weights['mul_8/ExponentialMovingAverage/local_step'] = np.float32(2.0)
    prefix = str(tmp_path / 'model.ckpt-20000')
    names = sorted(weights)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[''] * len(names),
                      tensors=[weights[n] for n in names])
    assert net.is_original_checkpoint(prefix)
    with pytest.raises(ValueError, match='load_original_checkpoint'):
        g.load_actor(prefix)
    net.load_original_checkpoint(g, prefix)
    np.testing.assert_allclose(g.ema_score, 0.3 / (1 - 0.99 ** 2), rtol=1e-6)

    images = rng.random((2, 64, 64, 3)).astype(np.float32)
    states = np.zeros((2, 11), np.float32)
    states[:, 2], states[1, 5] = [1, 3], 1
    lum = images @ np.array([0.27, 0.67, 0.06]) + 1e-5
    x = np.clip(images, 0, 1)
    hi, lo = x.max(-1), x.min(-1)
    stats = np.stack([lum.mean((1, 2)), lum.var((1, 2)),
                      ((hi - lo) / (np.minimum(hi + lo, 2 - hi - lo) + 0.01)).mean((1, 2))], 1)

    def critic(scope, x):
        h = np_lrelu(np_dense(np_tower(x - 0.5, weights, scope), weights, f'{scope}/fully_connected'))
        return np_dense(h, weights, f'{scope}/fully_connected_1')[:, 0]

    d = critic('critic', np.concatenate([images, planes(stats)], -1))
    np.testing.assert_allclose(g.score(images), d, rtol=1e-4, atol=1e-5)
    v = critic('rl_value/critic', np.concatenate([images, planes(states), planes(stats)], -1))
    np.testing.assert_allclose(g.value(tf.constant(images), tf.constant(states)).numpy(), v, rtol=1e-4, atol=1e-5)

    # The actor: reproduce its two dropout masks from the same stateless seeds.
    seed = tf.constant([9, 9], tf.int64)
    raw, logits = g.actor(tf.constant(images), tf.constant(states), seed)
    masks = [tf.nn.experimental.stateless_dropout(tf.ones([2, 4096]), 0.5, s).numpy()
             for s in tf.random.experimental.stateless_split(seed, 2)]
    x = np.concatenate([images, planes(states)], -1) - 0.5
    features = np_tower(x, weights, 'generator') * masks[0]
    selector = np_tower(x, weights, 'generator/action_selection') * masks[1]
    h = np_lrelu(np_dense(selector, weights, 'generator/action_selection/selector_fc1'))
    np.testing.assert_allclose(logits.numpy(), np_dense(h, weights, 'generator/action_selection/selector_fc2'),
                               rtol=1e-4, atol=1e-4)
    for j, r in enumerate(raw):
        h = np_lrelu(np_dense(features, weights, f'generator/filter_{j}/fc1'))
        full = np_dense(h, weights, f'generator/filter_{j}/fc2')
        np.testing.assert_allclose(r.numpy(), full[:, :r.shape[1]], rtol=1e-4, atol=1e-4)

    with pytest.raises(ValueError, match=r'wrong shapes: generator/filter_4/fc2/weights \[128, 14\] != \[128, 10\]'):
        net.load_original_checkpoint(net.GAN(config(curve_steps=4)), prefix)
    with pytest.raises(ValueError, match=f'missing: {names[0]}'):
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names[1:], shape_and_slices=[''] * (len(names) - 1),
                          tensors=[weights[n] for n in names[1:]])
        net.load_original_checkpoint(g, prefix)


# ----------------------------------------------------------------------------------------------
# Mixed precision

def test_mixed_precision_agrees_with_float32():
    """bfloat16 (8-bit mantissa) convolutions and matmuls track the float32 reference on a fixed seed:
    images within 5e-3, losses and scores within 5e-4 + 2% (g_loss 1e-3; after the first updates g_loss
    1e-2, the critic's EMD 30%, scores 4e-3), weights within 1e-3 after 2 iterations at the schedule's
    first learning rates (Adam moves a weight by up to ~lr per step in either direction when its
    gradient is near zero, so weights may differ by a few lr)."""
    cfg = config()
    ref, mixed = net.GAN(cfg), net.GAN(config(mixed_precision=True))
    for a, b in zip(all_variables(ref), all_variables(mixed)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())           # same seed, same initial weights
    lr_g, lr_v, lr_c = net.learning_rates(cfg, 0)
    images, states, noise = batch(9)
    rng = np.random.default_rng(10)
    fake, real = (rng.random((2, B, 64, 64, 3), dtype=np.float32) for _ in range(2))
    for iteration in range(2):
        outs = [g.actor_step(images, states, noise, lr_g, lr_v, 0.1) for g in (ref, mixed)]
        np.testing.assert_array_equal(outs[0]['action'], outs[1]['action'])   # same masks, same samples
        np.testing.assert_allclose(outs[1]['fake_output'], outs[0]['fake_output'], atol=5e-3)
        assert outs[1]['fake_output'].dtype == tf.float32
        for key in ('g_loss', 'v_loss', 'reward', 'd_fake', 'entropy', 'value'):
            # g_loss = mean(-q - A log pi) cancels terms of order 0.3 whose bfloat16 rounding (2^-8
            # relative) survives: 7.8e-4 apart on a CPU that emulates bfloat16 (no AMX/AVX512-BF16).
            # After one update it also carries the weights' Adam steps of +-lr wherever a gradient is
            # near zero and its sign differs between the paths: 5.0e-3 apart with TensorFlow's
            # gradient kernels, 7.3e-3 with layers.conv's (whose bfloat16 gradients are the more
            # accurate: 0.3% RMS error against a float64 reference, TensorFlow's 1-2% on an AVX2 CPU).
            atol = (1e-3 if iteration == 0 else 1e-2) if key == 'g_loss' else 5e-4
            np.testing.assert_allclose(float(outs[1][key]), float(outs[0][key]), atol=atol, rtol=2e-2)
        crit = [g.critic_steps(fake, real, lr_c) for g in (ref, mixed)]
        for key in ('c_loss', 'emd', 'grad_norm'):
            # The metrics are the last of citers updates, taken after the earlier ones' Adam steps. The
            # EMD grows by those steps, +-lr wherever a gradient is near zero, so where such a sign
            # differs between the paths its growth differs: at the second iteration 0.030 against
            # 0.039 on a CPU with AMX (native bfloat16 products), closer where bfloat16 is emulated.
            # The gradient's norm does not depend on those signs and stays within 2%.
            rtol = 0.3 if iteration and key != 'grad_norm' else 2e-2
            np.testing.assert_allclose(float(crit[1][key]), float(crit[0][key]), atol=5e-4, rtol=rtol)
    assert all(v.dtype in (tf.float32, tf.int64) for v in all_variables(mixed))   # optimizer state too
    for a, b in zip(all_variables(ref)[:-3], all_variables(mixed)[:-3]):
        if isinstance(a, tf.Variable) and a.trainable:                 # network weights, not Adam moments
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-3)
    # After the updates, which moved the weights apart as above: 1.7e-3 apart where bfloat16 is
    # emulated, 2.8e-3 on a CPU with AMX (scores of about 0.02).
    np.testing.assert_allclose(mixed.score(images), ref.score(images), atol=4e-3)


@pytest.mark.parametrize('forced', ['bfloat16', 'float32'])
def test_auto_precision_can_be_forced(forced, monkeypatch):
    monkeypatch.setattr(util, 'PRECISION_REASONS', {})
    monkeypatch.setenv('EXPOSURE_PRECISION', forced)
    assert util.compute_dtype('auto') == tf.as_dtype(forced)
    assert 'forced by EXPOSURE_PRECISION' in util.precision_description('auto')
    gan = net.GAN(config(mixed_precision='auto'))
    assert gan.actor.features.convs[0].compute_dtype == tf.as_dtype(forced)
    assert util.compute_dtype(True) == tf.bfloat16 and util.compute_dtype(False) == tf.float32


@pytest.mark.parametrize('units, gflops, expected', [
    (False, None, 'float32'),                                   # emulated bfloat16: not even measured
    (True, {'float32': 300, 'bfloat16': 600}, 'bfloat16'),      # AMX: twice as fast
    (True, {'float32': 300, 'bfloat16': 330}, 'float32'),       # not clearly faster: keep float32
])
def test_auto_precision_picks_the_faster_path(units, gflops, expected, monkeypatch):
    monkeypatch.setattr(util, 'PRECISION_REASONS', {})
    monkeypatch.delenv('EXPOSURE_PRECISION')
    monkeypatch.setattr(util, 'cpu_has_bfloat16_units', lambda: units)
    monkeypatch.setattr(util, 'matmul_gflops', lambda dtype: gflops[dtype] if gflops else pytest.fail('measured'))
    assert util.compute_dtype('auto').name == expected
    reason = util.precision_description('auto')
    assert ('no bfloat16 matrix units' in reason) if not units else ('GFLOPS' in reason)


def test_cpu_flags_tell_bfloat16_units(tmp_path):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n')
    assert not util.cpu_has_bfloat16_units(str(cpuinfo))
    cpuinfo.write_text('processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n')
    assert util.cpu_has_bfloat16_units(str(cpuinfo))


def test_cpu_name_is_read_for_the_training_log(tmp_path):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\nflags\t: avx2\n')
    assert util.cpu_name(str(cpuinfo)) == 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz with AVX2'
    cpuinfo.write_text('model name\t: AMD EPYC\nflags\t: sse avx2 avx512f avx512_bf16 avx512_vnni\n')
    assert util.cpu_name(str(cpuinfo)) == 'AMD EPYC with AVX512-BF16, AVX-512, AVX2'
    assert util.cpu_name(str(tmp_path / 'missing'))          # the platform's string, or 'unknown CPU'


def test_mixed_precision_override_accepts_auto():
    assert config(mixed_precision='auto').mixed_precision == 'auto'
    assert config(mixed_precision=True).mixed_precision is True
    with pytest.raises(SystemExit, match="mixed_precision must be one of"):
        config(mixed_precision='fast')
