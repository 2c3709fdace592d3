"""The white-box filters of spec section 3: global, differentiable, resolution-independent edits.

Each filter maps pre-activations (the first n outputs of its head) to parameters in user units
(`parameters`) and applies them to a float32 batch (B, H, W, 3) of any size (`process`). Training,
evaluation, recipe replay and the tests all use these same objects; a recipe stores the user-unit
parameters and replays them through `process`.

Images are not clipped between steps (spec 3.1): only S+ (upper clip) and the curves ([0, 1]) clip.
"""
import math

import cv2
import numpy as np
import tensorflow as tf

from util import lerp, lum, tanh_range


def _per_image(p):
    """(B,) or (B, 1) parameters -> (B, 1, 1, 1) for broadcasting over H, W, C."""
    return tf.reshape(p, [-1, 1, 1, 1])


# Panels are drawn in 8 bits (OpenCV 5 draws text on 8-bit images only) and returned as float.
def _blank(size):
    return np.full((size, size, 3), 128, np.uint8)


def _colour(rgb):
    return tuple(int(round(255 * min(max(float(c), 0.0), 1.0))) for c in rgb)


def _text_panel(text, size, box=None):
    """Mid-grey panel with a short label (the original's filter visualizations are text)."""
    panel = _blank(size)
    if box is not None:
        cv2.rectangle(panel, box[0], box[1], (255, 255, 255), cv2.FILLED)
    scale = 0.25 * size / 64
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    org = (max(0, (size - w) // 2), (box[1][1] - 3) if box else (size + h) // 2)
    cv2.putText(panel, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return panel.astype(np.float32) / 255


def _curve_panel(slopes, size, colours):
    """Cumulative normalized curves (one per row of `slopes`) as polylines on a grey panel."""
    panel = _blank(size)
    for row, colour in zip(np.atleast_2d(slopes), colours):
        ys = np.concatenate([[0.0], np.cumsum(row) / (row.sum() + 1e-30)])
        xs = np.linspace(0.0, 1.0, len(ys))
        points = np.stack([xs * (size - 1), (1 - ys) * (size - 1)], axis=1).round().astype(np.int32)
        cv2.polylines(panel, [points], False, _colour(colour), 1, cv2.LINE_AA)
    return panel.astype(np.float32) / 255


def piecewise_curve(img, slopes):
    """The tone/colour curve of spec 3.6: f(x) = steps / sum(t) * sum_i t_i clip(x - i/steps, 0, 1/steps).

    slopes: (B, 1, 1, C, steps) with C = 1 (same curve for all channels) or 3 (one per channel).
    Accumulated piece by piece so memory stays at a few image-sized buffers at any resolution.
    The curve maps x <= 0 to 0 and x >= 1 to 1: it clips to [0, 1].
    """
    steps = slopes.shape[-1]
    total = tf.reduce_sum(slopes, axis=-1)
    out = tf.zeros_like(img)
    for i in range(steps):
        out += slopes[..., i] * tf.clip_by_value(img - i / steps, 0.0, 1.0 / steps)
    return out * (steps / (total + 1e-30))


def rgb_to_hsv(rgb):
    """tf.image.rgb_to_hsv's formula with gradients safe everywhere (no NaN from 0/0 branches)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = tf.reduce_max(rgb, axis=-1)
    spread = v - tf.reduce_min(rgb, axis=-1)
    s = tf.where(v > 0, spread / tf.where(v > 0, v, 1.0), 0.0)
    norm = 1.0 / (6.0 * tf.where(spread > 0, spread, 1.0))
    h = tf.where(tf.equal(v, r), norm * (g - b),
                 tf.where(tf.equal(v, g), norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
    h = tf.where(spread > 0, h, 0.0)
    h = tf.where(h < 0, h + 1.0, h)
    return tf.stack([h, s, v], axis=-1)


def hsv_to_rgb(h, s, v):
    """Differentiable HSV -> RGB (TF 2.21's tf.image.hsv_to_rgb has no gradient).

    Channel n in (R, G, B) = v - v s max(0, min(k, 4 - k, 1)) with k = (n' + 6h) mod 6, n' = 5, 3, 1:
    the closed form of the same piecewise-linear hue wheel tf.image uses.
    """
    c = v * s
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = tf.math.floormod(n + 6.0 * h, 6.0)
        channels.append(v - c * tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0))
    return tf.stack(channels, axis=-1)


class Filter:
    """Base class: subclasses set name, short_name, num_params and define parameters/process."""
    name = short_name = None
    num_params = 0

    def __init__(self, cfg):
        self.cfg = cfg

    def parameters(self, raw):
        raise NotImplementedError

    def process(self, img, params):
        raise NotImplementedError

    def apply(self, img, raw):
        return self.process(img, self.parameters(raw))

    def visualize(self, params, size=64):
        return _text_panel(self.label(params, size <= 64), size)

    def label(self, params, short=True):
        """One-line description of parameters (numpy (n,)) in user units."""
        return self.name


class ExposureFilter(Filter):
    name, short_name, num_params = 'exposure', 'E', 1

    def parameters(self, raw):
        r = self.cfg.exposure_range
        return tanh_range(-r, r, initial=0)(raw)                      # EV in (-3.5, 3.5)

    def process(self, img, params):
        return img * tf.exp(_per_image(params) * math.log(2.0))       # x * 2^EV

    def visualize(self, params, size=64):
        if size <= 64:
            return _text_panel(f'EV {params[0]:+.2f}', size, box=((8, 40), (56, 52)))
        return _text_panel(self.label(params, False), size)

    def label(self, params, short=True):
        return f'EV {params[0]:+.2f}' if short else f'Exposure {params[0]:+.2f}'


class GammaFilter(Filter):
    name, short_name, num_params = 'gamma', 'G', 1

    def parameters(self, raw):
        log_range = math.log(self.cfg.gamma_range)
        return tf.exp(tanh_range(-log_range, log_range)(raw))          # gamma in (1/3, 3)

    def process(self, img, params):
        return tf.pow(tf.maximum(img, 0.001), _per_image(params))      # floor before the power

    def label(self, params, short=True):
        return f'G 1/{1.0 / params[0]:.2f}'


class ImprovedWhiteBalanceFilter(Filter):
    name, short_name, num_params = 'white_balance', 'W', 3

    def parameters(self, raw):
        # Red is fixed (its pre-activation is masked to 0); the log-range 0.5 is hard-coded in the
        # original (cfg.wb_range is unused). Scales are normalized to keep luminance.
        raw = raw * tf.constant([0.0, 1.0, 1.0])
        scales = tf.exp(tanh_range(-0.5, 0.5)(raw))
        return scales / (1e-5 + tf.reduce_sum(scales * tf.constant([0.27, 0.67, 0.06]), axis=1, keepdims=True))

    def process(self, img, params):
        return img * params[:, None, None, :]

    def visualize(self, params, size=64):
        panel = _blank(size)
        cv2.rectangle(panel, (int(0.2 * size), int(0.4 * size)), (int(0.8 * size), int(0.6 * size)),
                      _colour(params), cv2.FILLED)
        return panel.astype(np.float32) / 255

    def label(self, params, short=True):
        return 'WB ' + ' '.join(f'{x:.2f}' for x in params)


class SaturationPlusFilter(Filter):
    name, short_name, num_params = 'saturation', 'S+', 1

    def parameters(self, raw):
        return tf.sigmoid(raw)                                         # strength in (0, 1)

    def process(self, img, params):
        img = tf.minimum(img, 1.0)   # upper clip only; the blend below uses the clipped image too
        hsv = rgb_to_hsv(img)
        h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        s = s + (1.0 - s) * (0.5 - tf.abs(0.5 - v)) * 0.8
        return lerp(img, hsv_to_rgb(h, s, v), _per_image(params))

    def label(self, params, short=True):
        return f'S {params[0]:+.2f}' if short else f'Saturation {params[0]:+.2f}'


class ToneFilter(Filter):
    name, short_name = 'tone', 'T'

    def __init__(self, cfg):
        super().__init__(cfg)
        self.num_params = cfg.curve_steps

    def parameters(self, raw):
        return tanh_range(*self.cfg.tone_curve_range)(raw)            # slopes in (0.5, 2)

    def process(self, img, params):
        return piecewise_curve(img, params[:, None, None, None, :])   # one curve for all channels

    def visualize(self, params, size=64):
        return _curve_panel(params, size, [(0.0, 0.0, 0.0)])

    def label(self, params, short=True):
        return 'Tone ' + ' '.join(f'{x:.2f}' for x in params)


class ContrastFilter(Filter):
    name, short_name, num_params = 'contrast', 'Ct', 1

    def parameters(self, raw):
        return tf.tanh(raw)                                            # in (-1, 1); < 0 lowers contrast

    def process(self, img, params):
        luminance = tf.clip_by_value(lum(img), 0.0, 1.0)
        contrast_lum = -tf.cos(math.pi * luminance) * 0.5 + 0.5
        contrast_img = img / (luminance + 1e-6) * contrast_lum
        return lerp(img, contrast_img, _per_image(params))

    def label(self, params, short=True):
        return f'Ct {params[0]:+.2f}' if short else f'Contrast {params[0]:+.2f}'


class WNBFilter(Filter):
    name, short_name, num_params = 'black_and_white', 'BW', 1

    def parameters(self, raw):
        return tf.sigmoid(raw)                                         # strength in (0, 1)

    def process(self, img, params):
        return lerp(img, lum(img), _per_image(params))                # unclipped luminance

    def label(self, params, short=True):
        return f'B&W{params[0]:+.2f}'


class ColorFilter(Filter):
    name, short_name = 'color', 'C'

    def __init__(self, cfg):
        super().__init__(cfg)
        self.num_params = 3 * cfg.curve_steps

    def parameters(self, raw):
        return tanh_range(*self.cfg.color_curve_range, initial=1)(raw)  # slopes in (0.9, 1.1)

    def process(self, img, params):
        slopes = tf.reshape(params, [-1, 1, 1, 3, self.cfg.curve_steps])  # channel c: [8c, 8c + 8)
        return piecewise_curve(img, slopes)

    def visualize(self, params, size=64):
        return _curve_panel(np.reshape(params, (3, -1)), size,
                            [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)])

    def label(self, params, short=True):
        return 'Color curves'


class LevelFilter(Filter):
    """Defined in the original but enabled in no config."""
    name, short_name, num_params = 'level', 'Le', 2

    def parameters(self, raw):
        return tf.sigmoid(raw)

    def process(self, img, params):
        lower = params[:, 0][:, None, None, None]
        upper = params[:, 1][:, None, None, None] + 1.0
        return tf.clip_by_value((img - lower) / (upper - lower + 1e-6), 0.0, 1.0)

    def label(self, params, short=True):
        return f'Lv {params[0]:.2f} {params[1] + 1:.2f}'


def pack_steps(filters, steps):
    """An edit list [(filter index, user-unit parameters), ...] -> the tensors replay_step takes:
    indices int32 (S,) and parameters float32 (S, n_max), zero-padded to the widest filter."""
    params = np.zeros((len(steps), max(f.num_params for f in filters)), np.float32)
    for i, (index, p) in enumerate(steps):
        params[i, :filters[index].num_params] = p
    return np.array([index for index, _ in steps], np.int32), params


def replay_step(filters, img, index, params):
    """filters[index].process(img, params) inside a compiled function, for an index tensor.

    params: (n_max,) one row of pack_steps. The switch over the filters lets one graph replay every
    edit list on images of any size (the original built a network per resolution, spec 8.2).
    """
    def branch(f):
        return lambda: f.process(img, params[None, :f.num_params])
    return tf.switch_case(index, [branch(f) for f in filters])


FILTERS = {cls.__name__: cls for cls in (
    ExposureFilter, GammaFilter, ImprovedWhiteBalanceFilter, SaturationPlusFilter, ToneFilter,
    ContrastFilter, WNBFilter, ColorFilter, LevelFilter)}


def build_filters(cfg):
    """The filter objects in cfg.filters order; entries may be classes or class names (snapshots)."""
    out = []
    for f in cfg.filters:
        cls = FILTERS.get(f) if isinstance(f, str) else f
        if cls is None:
            raise ValueError(f"unknown filter {f!r}; known filters: {', '.join(FILTERS)}")
        out.append(cls(cfg))
    return out
