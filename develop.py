"""One photo from its file to its result: how it is read for a model (its encoding), the agent's 64x64
view of it and its own dropout seed, and the full-resolution development of the agent's edits
(spec 8.2), also as the colour table of a .cube LUT.

Speed: the full-resolution edits run as one XLA-compiled function from stored samples to 8/16-bit
output (Developer), chunk by chunk on all cores.
"""
import collections
import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_SIDE = 16          # smaller images give the agent no usable 64x64 view
CHUNK = 1 << 16        # pixels per call of the compiled development
INTERMEDIATES = 4      # images after a step written besides the result, as the original did (spec 8.2)
STEP_SLOTS = 8         # the preview's functions take edits padded to a multiple of this many steps


class Photo:
    """One input: its stored samples (RGB; uint8 or uint16 as stored, or float32), its alpha channel
    (None if opaque) and how the samples become the agent's linear values, x ** exponent * gain with x
    in [0, 1] (image_io.linearize's encodings). What transparent pixels store is never looked at: the
    brightest value is that of the visible ones, and low_res_view weighs pixels by their alpha."""

    def __init__(self, path, samples, encoding, alpha=None):
        import image_io
        self.path, self.samples, self.encoding, self.alpha = path, samples, encoding, alpha
        self.shape, self.pixels, self.dtype = samples.shape[:2], samples.shape[0] * samples.shape[1], samples.dtype
        self.exponent = image_io.ENCODING_EXPONENTS[encoding]
        self.gain = np.float32(1.0)
        brightest = samples.max(keepdims=True) if alpha is None else visible_max(samples, alpha)
        if encoding == 'srgb':      # scaled by the whole image's maximum, as image_io.linearize does
            self.gain = image_io.srgb_gain(self.linear(brightest).max())
        self.peak = float(self.linear(brightest).max())    # the linear image's maximum
        self.curve = np.float32([self.exponent, self.gain, self.peak])   # Developer's description

    def linear(self, samples):
        """image_io.linearize of some of this photo's samples, as if of the whole photo."""
        import image_io
        x = image_io.to_float(samples)
        return x if self.exponent == 1.0 else np.power(x, self.exponent, dtype=np.float32) * self.gain

    def load(self):
        """The samples, read again if they were let go (evaluate.py does so for big photos, see BATCH_BYTES)."""
        import image_io
        if self.samples is not None:
            return self.samples
        return image_io.read_samples(self.path, image_io.raw_curve(self.encoding))


def visible_max(samples, alpha):
    """The largest sample of the pixels that are not fully transparent, shaped (1, 1, 1); row bands of
    about a megapixel, so no copy of a big photo is made."""
    rows = max(1, (1 << 20) // samples.shape[1])
    return np.max([samples[top:top + rows][alpha[top:top + rows] > 0].max(initial=0)
                   for top in range(0, samples.shape[0], rows)], keepdims=True).reshape(1, 1, 1)


def model_encoding(cfg, encoding):
    """--encoding 'auto' means the encoding a model trained on a folder was trained with; else (and for
    the FiveK model) each file's default (image_io.default_encoding)."""
    if encoding == 'auto' and getattr(cfg, 'input_kind', None) in ('folder', 'synthetic'):
        return cfg.input_encoding
    return encoding


def read_input(path, encoding):
    """-> Photo; encoding 'auto' takes the file's default (image_io.default_encoding)."""
    import image_io
    samples, alpha = image_io.read_photo(path, image_io.raw_curve(encoding))
    if min(samples.shape[:2]) < MIN_SIDE:
        raise image_io.ImageError(f"{path}: too small ({samples.shape[1]}x{samples.shape[0]}); the agent needs "
                              f"at least {MIN_SIDE} pixels on the short side")
    if alpha is not None and not alpha.any():
        raise image_io.ImageError(f"{path}: every pixel is fully transparent: nothing to retouch")
    return Photo(path, samples, image_io.default_encoding(path) if encoding == 'auto' else encoding, alpha)


def photo_seed(seed, samples, alpha=None):
    """--seed and a photo's pixels -> the photo's own dropout seed (a non-negative int64): its edit then
    depends on nothing else (not its name, its position, its batch or its shard). Each photo draws its
    own masks, as each image of a batch did in the original, so a set's scores do not hang on one draw.
    With an alpha channel, the colours stored under fully transparent pixels do not count."""
    digest = hashlib.blake2b(f'{seed} {samples.dtype} {samples.shape}'.encode(), digest_size=8)
    if alpha is None:
        digest.update(np.ascontiguousarray(samples).data)
        return int.from_bytes(digest.digest(), 'little') >> 1
    rows = max(1, (1 << 20) // samples.shape[1])
    for top in range(0, samples.shape[0], rows):
        visible = alpha[top:top + rows, :, None] > 0
        digest.update(np.where(visible, samples[top:top + rows], 0).data)
        digest.update(np.ascontiguousarray(alpha[top:top + rows]).data)
    return int.from_bytes(digest.digest(), 'little') >> 1


def _shrink(side, channels, values, size):
    """cv2's bilinear resize to size x size of a side x side image of which values(rows, columns) gives
    the part at np.ix_(rows, columns), as float32 (h, w, channels), computing only the pixels read.

    A bilinear reduction reads only the source rows and columns next to its samples, so only those
    are computed, into a zero square whose other pages are never touched (so never allocated).
    """
    import cv2
    if side <= 4 * size:            # small, or cv2's exact-2x case (an area average of every pixel)
        every = np.arange(side)
        return cv2.resize(values(every, every), (size, size), interpolation=cv2.INTER_LINEAR).reshape(
            size, size, channels)
    # cv2's sample positions; each reads floor(x) and floor(x) + 1 (x is rounded to float32 first,
    # so near an integer either neighbour may be read: both are taken).
    centres = (np.arange(size) + 0.5) * (side / size) - 0.5
    first, last = np.floor(centres - 0.01).astype(int), np.floor(centres + 0.01).astype(int) + 1
    used = np.unique(np.clip(np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)]), 0, side - 1))
    image = np.zeros((side, side, channels), np.float32)
    image[np.ix_(used, used)] = values(used, used)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).reshape(size, size, channels)


def low_res_view(photo, size=64):
    """Spec 8.2: the centre square of the linearized image, resized to size x size bilinearly (cv2),
    without linearizing the whole square of a big photo (_shrink).

    With an alpha channel, each view pixel is the alpha-weighted mean of the pixels it is made of, so
    the colours stored under transparent pixels never count; where all of them are fully transparent
    it is a neutral grey at the visible view's mean luminance.
    """
    import image_io
    square = image_io.center_square(photo.samples)
    side = square.shape[0]
    if photo.alpha is None:
        return _shrink(side, 3, lambda rows, columns: photo.linear(square[np.ix_(rows, columns)]), size)
    alpha = image_io.center_square(photo.alpha)

    def opacity(rows, columns):
        return image_io.to_float(alpha[np.ix_(rows, columns)])[..., None]

    weighted = _shrink(side, 3, lambda rows, columns: photo.linear(square[np.ix_(rows, columns)])
                       * opacity(rows, columns), size)
    return visible_colours(weighted, _shrink(side, 1, opacity, size))


def visible_colours(weighted, weight):
    """A reduction of colour x alpha (h, w, 3) and of alpha (h, w, 1) -> each pixel the mean colour of
    the visible pixels it is made of; where none is, a neutral grey at the visible pixels' mean
    luminance. (Training reduces transparent photos by it too: data._read_square.)"""
    import image_io
    covered = weight > 1e-6
    view = np.where(covered, weighted / np.where(covered, weight, 1), 0).astype(np.float32)
    if not covered.all():
        luminance = view @ np.float32(image_io.LUM_WEIGHTS)
        grey = luminance[covered[..., 0]].mean() if covered.any() else 0.0
        view[~covered[..., 0]] = grey
    return view


def quantize(img, bits):
    """image_io.quantize inside a compiled function: clip to [0, 1], scale, round half to even."""
    import tensorflow as tf
    scale, dtype = (255.0, tf.uint8) if bits == 8 else (65535.0, tf.uint16)
    return tf.cast(tf.round(tf.clip_by_value(img, 0.0, 1.0) * scale), dtype)


def power(x, exponent):
    """x ** exponent for x >= 0 as exp(exponent log x): XLA vectorizes exp and log but calls powf per
    value, 3x slower; the two agree to a few float32 ulps."""
    import tensorflow as tf
    return tf.exp(exponent * tf.math.log(x))


class Developer:
    """Stored samples -> retouched 8/16-bit image (and, with intermediates, the 8-bit linear input,
    its tone-mapped preview and the image after each step but the last) in one XLA-compiled function
    per sample type: the scaling to [0, 1], the linearization, the filters and the quantization are
    fused, so NumPy never holds a float copy of a photo and XLA fuses each filter into one pass.

    Every filter is per-pixel given its parameters, so a photo is developed as a list of pixels in
    chunks of one fixed size: the result equals developing it whole, memory stays small at any
    resolution, XLA compiles once whatever the photo sizes, and chunks run on all cores.
    """

    def __init__(self, filters, bits, intermediates, chunk=CHUNK):
        import tensorflow as tf
        self.filters, self.bits, self.intermediates, self.chunk = filters, bits, intermediates, chunk
        width = max(f.num_params for f in filters)
        steps = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, width], tf.float32)]

        def compiled(fn, *signature):
            return tf.function(fn, jit_compile=True, autograph=False, input_signature=list(signature))
        scales = ((np.uint8, 255.0), (np.uint16, 65535.0), (np.float32, None))
        self.functions = {np.dtype(dtype): compiled(functools.partial(self._develop, scale=scale), tf.TensorSpec(
            [None, 3], dtype), tf.TensorSpec([3], tf.float32), *steps) for dtype, scale in scales}
        # The editor's preview (editor.Preview) starts from float images it keeps: the linear image,
        # and the image before a step; each goes on with the same steps as the whole development.
        self.linearizers = {np.dtype(dtype): compiled(functools.partial(self._linearize, scale=scale), tf.TensorSpec(
            [None, 3], dtype), tf.TensorSpec([3], tf.float32)) for dtype, scale in scales}
        count = tf.TensorSpec([], tf.int32)
        self.advance = compiled(self._advance, tf.TensorSpec([None, 3], tf.float32), *steps, count)
        self.finish = compiled(self._finish, tf.TensorSpec([None, 3], tf.float32), *steps, count)
        self.workers = os.cpu_count()
        self.pool = ThreadPoolExecutor(self.workers)
        self.warm = set()
        self.concrete = {}

    def _linearize(self, samples, curve, scale):
        """samples (N, 3) as stored, scale their full scale (None: float) -> the linear image: {'linear'}."""
        import tensorflow as tf
        x = tf.cast(samples, tf.float32)
        if scale is not None:
            x = x / scale
        exponent, gain = curve[0], curve[1]
        return {'linear': tf.cond(exponent == 1.0, lambda: x, lambda: power(x, exponent) * gain)}

    def _replay(self, x, actions, params, stages=False, count=None):
        """x (N, 3) float through the steps (the first `count` of them: all if None) -> the image (N, 3)
        and, with stages, the 8-bit image after each step (a TensorArray)."""
        import tensorflow as tf
        import filters

        def step(i, img, kept):
            img = filters.replay_step(self.filters, img, actions[i], params[i])
            if stages:
                kept = kept.write(i, quantize(img[0, 0], 8))
            return i + 1, img, kept

        # img (1, 1, N, 3) is the filters' (B, H, W, 3).
        _, img, kept = tf.while_loop(lambda i, img, kept: i < (tf.size(actions) if count is None else count), step,
                                     (0, x[None, None], tf.TensorArray(tf.uint8, size=tf.size(actions))))
        return img[0, 0], kept

    def _develop(self, samples, curve, actions, params, scale):
        """samples (N, 3) as stored, scale their full scale (None: float); curve: exponent, gain and
        linear maximum (Photo); actions, params: pack_steps of the edits."""
        import tensorflow as tf
        x = self._linearize(samples, curve, scale)['linear']
        img, stages = self._replay(x, actions, params, self.intermediates)
        retouched = quantize(img, self.bits)
        if not self.intermediates:
            return {'retouched': retouched}
        peak = curve[2]
        return {'retouched': retouched, 'linear': quantize(x, 8),
                'input_tone_mapped': quantize(power(x / tf.maximum(peak, 1e-6), 1 / 2.4), 8),
                'stages': stages.stack()[:-1][:INTERMEDIATES]}    # the last is the retouched image

    def _advance(self, img, actions, params, count):
        return {'image': self._replay(img, actions, params, count=count)[0]}

    def _finish(self, img, actions, params, count):
        return {'8-bit': quantize(self._replay(img, actions, params, count=count)[0], 8)}

    def warm_up(self, dtype, steps):
        """Compiles for this sample type and number of steps in the background (e.g. while the agent
        runs), so the first photo does not wait for it."""
        if (dtype, steps) in self.warm:
            return
        self.warm.add((dtype, steps))
        self.pool.submit(self._run, self.functions[np.dtype(dtype)], [np.zeros((self.chunk, 3), dtype)],
                         (np.float32([1, 1, 1]), *self._pack([(0, np.zeros(self.filters[0].num_params))] * steps)))

    def warm_up_preview(self, dtype):
        """warm_up for the preview's functions (linearize, replay, replay_8bit: up to STEP_SLOTS steps; more compile again)."""
        if (dtype, 'preview') in self.warm:
            return
        self.warm.add((dtype, 'preview'))
        pixels, steps = np.zeros((self.chunk, 3), dtype), self._pack([], slots=True)
        self.pool.submit(self._run, self.linearizers[np.dtype(dtype)], [pixels], (np.float32([1, 1, 1]),))
        self.pool.submit(self._run, self.advance, [pixels.astype(np.float32)], steps)
        self.pool.submit(self._run, self.finish, [pixels.astype(np.float32)], steps)

    def _pack(self, steps, slots=False):
        """filters.pack_steps; with slots, padded to a multiple of STEP_SLOTS steps and their number,
        so that one compiled function serves edits of up to STEP_SLOTS steps (XLA compiles per shape)."""
        import filters
        actions, params = filters.pack_steps(self.filters, steps)
        if not slots:
            return actions, params
        padded = -(-max(len(steps), 1) // STEP_SLOTS) * STEP_SLOTS
        return (np.pad(actions, (0, padded - len(steps))), np.pad(params, ((0, padded - len(steps)), (0, 0))),
                np.int32(len(steps)))

    def _call(self, function, *args):
        """function(*args) called as its concrete function: half the cost of a call."""
        import tensorflow as tf
        if function not in self.concrete:
            self.concrete[function] = function.get_concrete_function()
        return self.concrete[function](*map(tf.convert_to_tensor, args))

    def _run(self, function, parts, args):
        n = len(parts[0])
        if n < self.chunk:            # one shape for every call: XLA compiles once
            parts = [np.concatenate([p, np.zeros((self.chunk - n,) + p.shape[1:], p.dtype)]) for p in parts]
        out = self._call(function, *parts, *args)
        return {name: value.numpy()[..., :n, :] for name, value in out.items()}

    def _chunks(self, function, arrays, *args):
        """function(chunk of each of arrays, *args) over all their pixels (first axis), chunk by chunk
        on all cores -> {output name: its outputs joined along the pixels}."""
        pixels = len(arrays[0])
        out, running = {}, collections.deque()

        def place(start, part):
            for name, value in part.result().items():
                if name not in out:
                    out[name] = np.empty(value.shape[:-2] + (pixels, value.shape[-1]), value.dtype)
                out[name][..., start:start + value.shape[-2], :] = value

        # A few chunks ahead of the copying, not all of them: finished chunks waiting to be copied
        # would otherwise hold up to a second copy of every output when this thread is slow.
        for start in range(0, pixels, self.chunk):
            running.append((start, self.pool.submit(self._run, function,
                                                    [a[start:start + self.chunk] for a in arrays], args)))
            if len(running) > 2 * self.workers:
                place(*running.popleft())
        while running:
            place(*running.popleft())
        return out

    def __call__(self, photo, steps):
        """steps: [(filter index, user-unit parameters), ...] -> {output name: uint8/uint16 (H, W, 3)},
        names as output_paths: retouched, and with intermediates linear, input_tone_mapped and
        intermediate00.. (the image after each step but the last, at most 4)."""
        return self.develop(photo.load(), photo.curve, steps)

    def develop(self, samples, curve, steps):
        """__call__ for any samples (H, W, 3) linearized as the photo with Photo.curve `curve` is."""
        h, w = samples.shape[:2]
        out = self._chunks(self.functions[samples.dtype], [samples.reshape(-1, 3)], curve, *self._pack(steps))
        stages = out.pop('stages', [])
        out.update({f'intermediate{i:02d}': stage for i, stage in enumerate(stages)})
        return {name: img.reshape(h, w, 3) for name, img in out.items()}

    # The preview's parts: develop() split where the editor keeps float images. Each is the same
    # computation as develop's (the linearization, filters.replay_step, quantize), so the images kept
    # and what is made from them are develop's own. The float images stay in the compiled functions'
    # own chunks (Chunked): converting and padding them again took 3-5 ms of each preview.

    def _each(self, function, parts, *args):
        """function(part, *args) for every part (a chunk's tensor), all at once on all cores (a
        screen-size image has a few) -> their outputs, in order."""
        import tensorflow as tf
        args = [tf.convert_to_tensor(a) for a in args]          # once, not per part
        return [f.result() for f in [self.pool.submit(self._call, function, part, *args) for part in parts]]

    def linearize(self, samples, curve):
        """Samples (H, W, 3) -> the float32 linear image develop() starts the steps from (Chunked)."""
        pixels = samples.reshape(-1, 3)
        pixels = np.concatenate([pixels, np.zeros((-len(pixels) % self.chunk, 3), pixels.dtype)])
        parts = [pixels[start:start + self.chunk] for start in range(0, len(pixels), self.chunk)]
        return Chunked([out['linear'] for out in self._each(self.linearizers[samples.dtype], parts, curve)],
                       samples.shape)

    def replay(self, img, steps):
        """A Chunked float image -> the one after these steps."""
        if not steps:
            return img
        outs = self._each(self.advance, img.parts, *self._pack(steps, slots=True))
        return Chunked([out['image'] for out in outs], img.shape)

    def replay_8bit(self, img, steps):
        """A Chunked float image -> the 8-bit image (H, W, 3) after these steps."""
        outs = self._each(self.finish, img.parts, *self._pack(steps, slots=True))
        h, w = img.shape[:2]
        return np.concatenate([out['8-bit'].numpy() for out in outs])[:h * w].reshape(h, w, 3)


# A float image as the preview's functions keep it: tensors of Developer.chunk pixels (the last
# padded) and the image's shape (H, W, 3).
Chunked = collections.namedtuple('Chunked', 'parts shape')


def colour_table(developer, photo, edits, size):
    """The photo's whole development (its linearization, the edits, the output's clipping) at the points
    of a size^3 grid of stored values (lut.grid) -> the result's values there (size^3, 3) in [0, 1].
    developer: a 16-bit one without intermediates, so the table keeps 16-bit precision."""
    import lut
    grid = lut.grid(size)
    return developer.develop(grid[:, None, :], photo.curve, edits)['retouched'].reshape(-1, 3) / 65535.0


def lut_comments(photo, labels):
    """The .cube's first lines: what it does, and which values it expects (the file's own)."""
    import image_io
    name = os.path.basename(photo.path)
    bits = {np.dtype(np.uint8): '8-bit: value / 255', np.dtype(np.uint16): '16-bit: value / 65535'}
    notes = {'srgb': 'Fits this photo only: its sRGB linearization is scaled by its brightest value.',
             'raw': f'Camera RAW: the input is the 16-bit RGB that rawpy decodes ('
                    f'{"with the sRGB curve" if image_io.raw_curve(photo.encoding) == "srgb" else "linear"}), '
                    'not the raw file.'}
    kind = 'raw' if os.path.splitext(name)[1].lower() in image_io.RAW_EXTENSIONS else photo.encoding
    return [f'Exposure, rebuilt: the retouching of {name} ({" > ".join(labels)}) as a 3D LUT.',
            f'Input: {name}\'s stored RGB values in [0, 1] ({bits.get(photo.dtype, "float")}), as in the file.',
            'Output: the stored values of its retouched result.'] + ([notes[kind]] if kind in notes else [])
