"""Every filter against spec section 3: values at pre-activation 0, ranges, exact outputs on
hand-computed images (independent numpy references), gradients, and resolution independence."""
import colorsys
import math

import cv2
import numpy as np
import pytest
import tensorflow as tf

import configurator
import filters

CFG = configurator.load_config('example')
FILTERS = {f.short_name: f for f in filters.build_filters(CFG)}
FILTERS['Le'] = filters.LevelFilter(CFG)
RNG = np.random.default_rng(0)


def lum_np(img):
    return img[..., 0:1] * 0.27 + img[..., 1:2] * 0.67 + img[..., 2:3] * 0.06


def curve_np(x, t):
    """Spec 3.6 literally: n / sum(t) * sum_i t_i clip(x - i/n, 0, 1/n)."""
    n = len(t)
    return n / (t.sum() + 1e-30) * sum(t[i] * np.clip(x - i / n, 0, 1 / n) for i in range(n))


def saturation_np(img, p):
    x = np.minimum(img, 1.0)
    full = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*x[idx])
        s = s + (1 - s) * (0.5 - abs(0.5 - v)) * 0.8
        full[idx] = colorsys.hsv_to_rgb(h, s, v)
    return (1 - p) * x + p * full


def contrast_np(img, c):
    L = np.clip(lum_np(img), 0, 1)
    Lp = -np.cos(math.pi * L) / 2 + 0.5
    return (1 - c) * img + c * (img / (L + 1e-6) * Lp)


def reference(short, img, raw):
    """Numpy reference: spec formulas applied to pre-activations of one image."""
    th, sig = np.tanh, lambda x: 1 / (1 + np.exp(-x))
    if short == 'E':
        return img * 2.0 ** (3.5 * th(raw[0]))
    if short == 'G':
        return np.maximum(img, 0.001) ** (3.0 ** th(raw[0]))
    if short == 'W':
        s = np.exp(0.5 * th(raw * np.array([0, 1, 1])))
        return img * s / (1e-5 + (s * [0.27, 0.67, 0.06]).sum())
    if short == 'S+':
        return saturation_np(img, sig(raw[0]))
    if short == 'T':
        return curve_np(img, 1.25 + 0.75 * th(raw))
    if short == 'Ct':
        return contrast_np(img, th(raw[0]))
    if short == 'BW':
        p = sig(raw[0])
        return (1 - p) * img + p * lum_np(img)
    if short == 'C':
        t = (1 + 0.1 * th(raw)).reshape(3, 8)
        return np.stack([curve_np(img[..., c], t[c]) for c in range(3)], axis=-1)
    if short == 'Le':
        lo, hi = sig(raw[0]), sig(raw[1]) + 1
        return np.clip((img - lo) / (hi - lo + 1e-6), 0, 1)
    raise KeyError(short)


def test_build_filters_order_names_and_sizes():
    fs = filters.build_filters(CFG)
    assert [f.short_name for f in fs] == ['E', 'G', 'W', 'S+', 'T', 'Ct', 'BW', 'C']
    assert [f.num_params + 6 for f in fs] == [7, 7, 9, 7, 14, 7, 7, 30]   # head widths, spec 11.5
    assert [f.name for f in filters.build_filters(configurator.load_config('example', ['--filters=["GammaFilter"]']))] == ['gamma']
    with pytest.raises(ValueError, match='unknown filter'):
        filters.build_filters(configurator.load_config('example', ['--filters=["NoSuchFilter"]']))


@pytest.mark.parametrize('short, expected', [
    ('E', [0.0]), ('G', [1.0]), ('W', [1 / (1 + 1e-5)] * 3), ('S+', [0.5]), ('T', [1.25] * 8),
    ('Ct', [0.0]), ('BW', [0.5]), ('C', [1.0] * 24), ('Le', [0.5, 0.5])])
def test_parameters_at_zero_preactivation(short, expected):
    f = FILTERS[short]
    p = f.parameters(tf.zeros((2, f.num_params))).numpy()
    assert p.shape == (2, f.num_params)
    np.testing.assert_allclose(p[0], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('short, low, high', [
    ('E', -3.5, 3.5), ('G', 1 / 3, 3.0), ('S+', 0.0, 1.0), ('T', 0.5, 2.0), ('Ct', -1.0, 1.0),
    ('BW', 0.0, 1.0), ('C', 0.9, 1.1)])
def test_parameter_ranges_at_extreme_preactivations(short, low, high):
    f = FILTERS[short]
    lo = f.parameters(tf.fill((1, f.num_params), -30.0)).numpy()
    hi = f.parameters(tf.fill((1, f.num_params), 30.0)).numpy()
    np.testing.assert_allclose(lo, low, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hi, high, rtol=1e-5, atol=1e-6)


def test_white_balance_red_fixed_and_luminance_normalized():
    f = FILTERS['W']
    s = f.parameters(tf.constant([[30.0, -30.0, 30.0]])).numpy()[0]
    raw_scales = np.array([1.0, math.exp(-0.5), math.exp(0.5)])     # red pre-activation ignored
    np.testing.assert_allclose(s, raw_scales / (1e-5 + raw_scales @ [0.27, 0.67, 0.06]), rtol=1e-5)
    assert abs(s @ [0.27, 0.67, 0.06] - 1) < 1e-4


@pytest.mark.parametrize('short', list(FILTERS))
def test_exact_outputs_match_spec_formulas(short):
    f = FILTERS[short]
    img = RNG.uniform(-0.1, 1.4, (2, 5, 7, 3)).astype(np.float32)
    img[0, 0, 0] = [0.3, 0.3, 0.3]              # grey pixel (zero spread)
    img[0, 0, 1] = [0.0, 0.0, 0.0]              # black
    img[1, 0, 0] = [0.7, 0.7, 0.2]              # tie between maximum channels
    if short == 'S+':
        img = np.abs(img)                        # colorsys' reference is defined on [0, 1]
    raw = RNG.normal(0, 1.5, (2, f.num_params)).astype(np.float32)
    out = f.apply(tf.constant(img), tf.constant(raw)).numpy()
    for b in range(2):
        np.testing.assert_allclose(out[b], reference(short, img[b].astype(np.float64), raw[b].astype(np.float64)),
                                   rtol=2e-5, atol=2e-5)


def test_exposure_hand_computed():
    out = FILTERS['E'].process(tf.constant([[[[0.1, 0.2, 0.4]]]]), tf.constant([[1.0]])).numpy()
    np.testing.assert_allclose(out.ravel(), [0.2, 0.4, 0.8], rtol=1e-6)


def test_gamma_floor_and_curves_clip():
    g = FILTERS['G'].process(tf.constant([[[[-1.0, 0.0, 0.25]]]]), tf.constant([[2.0]])).numpy().ravel()
    np.testing.assert_allclose(g, [1e-6, 1e-6, 0.0625], rtol=1e-5)
    t = FILTERS['T'].apply(tf.constant([[[[-0.5, 0.5, 3.0]]]]), tf.zeros((1, 8))).numpy().ravel()
    np.testing.assert_allclose(t, [0.0, 0.5, 1.0], atol=1e-6)     # identity curve clips to [0, 1]


def test_saturation_plus_clips_highlights_and_is_not_identity_at_zero():
    img = tf.constant([[[[1.5, 0.2, 0.2], [0.5, 0.5, 0.5]]]])
    out = FILTERS['S+'].apply(img, tf.constant([[-30.0]])).numpy()  # strength ~0: only the clip remains
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(out[0, 0, 1], [0.5, 0.5, 0.5], atol=1e-6)
    mid = FILTERS['S+'].apply(tf.constant([[[[0.6, 0.4, 0.3]]]]), tf.zeros((1, 1))).numpy()
    assert np.abs(mid - [0.6, 0.4, 0.3]).max() > 0.01


def test_hsv_conversions_match_tf_image():
    rgb = tf.constant(RNG.uniform(-0.2, 1.0, (3, 9, 9, 3)).astype(np.float32))
    np.testing.assert_allclose(filters.rgb_to_hsv(rgb), tf.image.rgb_to_hsv(rgb), atol=1e-6)
    hsv = tf.constant(RNG.uniform(0.0, 0.999, (3, 9, 9, 3)).astype(np.float32))
    np.testing.assert_allclose(filters.hsv_to_rgb(hsv[..., 0], hsv[..., 1], hsv[..., 2]),
                               tf.image.hsv_to_rgb(hsv), atol=1e-6)


@pytest.mark.parametrize('short', list(FILTERS))
def test_gradients_exist_and_are_finite(short):
    f = FILTERS[short]
    img = np.concatenate([RNG.uniform(0, 1.2, (1, 4, 4, 3)), np.zeros((1, 4, 4, 3)),
                          np.full((1, 4, 4, 3), 0.5)]).astype(np.float32)
    img = tf.constant(img)
    raw = tf.constant(RNG.normal(0, 1, (3, f.num_params)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([img, raw])
        loss = tf.reduce_sum(f.apply(img, raw) * tf.linspace(0.5, 1.5, 3)[None, None, None, :])
    g_img, g_raw = tape.gradient(loss, [img, raw])
    assert g_img is not None and g_raw is not None
    assert np.isfinite(g_img.numpy()).all() and np.isfinite(g_raw.numpy()).all()
    assert np.abs(g_raw.numpy()).sum() > 0


@pytest.mark.parametrize('short', list(FILTERS))
def test_resolution_independence(short):
    """Filtering then downscaling equals downscaling then filtering (smooth image, global edits)."""
    f = FILTERS[short]
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    img = np.stack([0.2 + 0.6 * xx, 0.1 + 0.5 * yy, 0.3 + 0.3 * xx * yy], -1).astype(np.float32)
    raw = tf.constant(RNG.normal(0, 1, (1, f.num_params)).astype(np.float32))
    full = f.apply(tf.constant(img[None]), raw).numpy()[0]
    a = cv2.resize(full, (64, 64), interpolation=cv2.INTER_AREA)
    b = f.apply(tf.constant(cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)[None]), raw).numpy()[0]
    assert np.abs(a - b).max() < 0.01


def test_any_size_and_batch():
    for shape in [(1, 1, 1, 3), (3, 17, 5, 3), (1, 333, 500, 3)]:
        img = tf.random.uniform(shape)
        for f in FILTERS.values():
            out = f.apply(img, tf.zeros((shape[0], f.num_params)))
            assert out.shape == shape and out.dtype == tf.float32


@pytest.mark.parametrize('short', list(FILTERS))
def test_visualization_panels(short):
    f = FILTERS[short]
    p = f.parameters(tf.constant(RNG.normal(0, 1, (1, f.num_params)).astype(np.float32))).numpy()[0]
    for size in (64, 128):
        panel = f.visualize(p, size)
        assert panel.shape == (size, size, 3) and panel.dtype == np.float32
        assert 0 <= panel.min() and panel.max() <= 1 and panel.std() > 0   # something is drawn
    assert isinstance(f.label(p), str)


# ----------------------------------------------------------------------------------------------
# Compiled replay (evaluation's full-resolution path)

REPLAY_FILTERS = list(FILTERS.values())          # the 8 of the config, then Level


def random_edits(rng, count):
    """count random (filter index, user-unit parameters) steps over REPLAY_FILTERS."""
    edits = []
    for index in rng.integers(0, len(REPLAY_FILTERS), count):
        f = REPLAY_FILTERS[index]
        raw = tf.constant(rng.normal(0, 1.5, (1, f.num_params)).astype(np.float32))
        edits.append((int(index), f.parameters(raw).numpy()[0]))
    return edits


def reference_replay(img, edits):
    """Eager, filter by filter: the path the compiled replay must reproduce."""
    out = tf.constant(img)
    for index, params in edits:
        out = REPLAY_FILTERS[index].process(out, tf.constant(params[None]))
    return out.numpy()


@tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                                tf.TensorSpec([None], tf.int32),
                                                tf.TensorSpec([None, 24], tf.float32)])
def compiled_replay(img, actions, params):
    for i in tf.range(tf.size(actions)):
        img = filters.replay_step(REPLAY_FILTERS, img, actions[i], params[i])
    return img


def test_pack_steps_pads_to_the_widest_filter():
    actions, params = filters.pack_steps(REPLAY_FILTERS, [(0, [0.5]), (7, np.arange(24)), (8, [0.1, 0.2])])
    assert actions.tolist() == [0, 7, 8] and params.shape == (3, 24) and params.dtype == np.float32
    np.testing.assert_array_equal(params[0], [0.5] + [0] * 23)
    np.testing.assert_array_equal(params[2, :3], np.float32([0.1, 0.2, 0]))


def test_compiled_replay_matches_filter_by_filter_at_any_size():
    rng = np.random.default_rng(1)
    for shape in [(1, 5, 7, 3), (1, 1, 1, 3), (1, 33, 18, 3), (1, 64, 64, 3)]:
        img = rng.uniform(0, 1.2, shape).astype(np.float32)
        edits = random_edits(rng, int(rng.integers(1, 7)))
        out = compiled_replay(img, *filters.pack_steps(REPLAY_FILTERS, edits)).numpy()
        np.testing.assert_allclose(out, reference_replay(img, edits), rtol=1e-5, atol=1e-5)
    assert compiled_replay.experimental_get_tracing_count() == 1    # one graph for every size and edit list
