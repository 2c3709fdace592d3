"""Retouch photos with a trained agent, or re-apply a saved edit recipe.

  python evaluate.py <config> <model-name> <images, folders or globs...>
  python evaluate.py --recipe outputs/A.tif.steps.json <images...>
  python evaluate.py --demo          (the shipped Sintel model on photos bundled with scikit-image)

The agent looks at the 64x64 centre square of each (linearized) image, picks 5 filters and their
parameters (argmax choice; dropout stays on, so use --seed for repeatable output), and the same
filter code replays those edits on the full-resolution image (spec 8.2). Outputs keep the original
names: <name>.retouched.png, .intermediate00-03.png, .linear.png, .input_tone_mapped.png,
.steps.png (spec 8.3) and <name>.steps.json, a readable recipe replacing the original's pickle.

Speed: the full-resolution edits run as one XLA-compiled function from stored samples to 8/16-bit
output (Developer), on worker threads while the agent looks at the next batch of photos.
"""
import argparse
import collections
import functools
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

RECIPE_VERSION = 1
MIN_SIDE = 16          # smaller images give the agent no usable 64x64 view
DEMO_MODEL = ('sintel', 'pretrained')


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Retouch photos with a trained Exposure agent, or re-apply a saved recipe.',
        epilog='examples:\n'
               '  python evaluate.py sintel pretrained photo.jpg raw_folder/ "shoot/*.tif"\n'
               '  python evaluate.py example pretrained photos/*.tif\n'
               '  python evaluate.py --recipe outputs/A.tif.steps.json other/*.tif\n'
               '  python evaluate.py --demo',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('args', nargs='*', metavar='CONFIG MODEL IMAGE',
                        help='config name, model name, then image files, folders or glob patterns '
                             '(with --recipe: only images)')
    parser.add_argument('--recipe', help='apply this saved <name>.steps.json to the images (no network)')
    parser.add_argument('--demo', action='store_true',
                        help='retouch sample photos bundled with scikit-image with the shipped model')
    parser.add_argument('--output-dir', default='outputs', help='where results go (default: outputs/)')
    parser.add_argument('--format', choices=['png', 'png16', 'tiff16'], default='png',
                        help='retouched image: 8-bit PNG (default), 16-bit PNG or 16-bit TIFF')
    parser.add_argument('--no-intermediates', action='store_true',
                        help='write only the retouched image and the recipe')
    parser.add_argument('--encoding', choices=['auto', 'display', 'linear', 'prophoto', 'srgb'],
                        default='auto', help='how stored values become linear input: auto (TIFF x^1.8, '
                        'JPEG/PNG sRGB x^2.2 scaled to max 0.5, RAW linear; a model trained on folder '
                        'data uses its config\'s input_encoding), or force one (e.g. linear for '
                        'already-linear TIFFs)')
    parser.add_argument('--seed', type=int, help='seed the test-time dropout for repeatable output')
    parser.add_argument('--step', type=int, help='checkpoint step to load (default: newest)')
    parser.add_argument('--batch-size', type=int, default=64, help='images per agent batch')
    args = parser.parse_args(argv)
    if args.demo:
        args.config, args.model, args.images = *DEMO_MODEL, args.args
    elif args.recipe:
        args.config = args.model = None
        args.images = args.args
    elif len(args.args) < 3:
        parser.error('give a config, a model name and at least one image (or --recipe / --demo)')
    else:
        args.config, args.model, args.images = args.args[0], args.args[1], args.args[2:]
    return args


# ----------------------------------------------------------------------------------------------
# Loading the model

def model_error(config, name):
    models_root = os.path.join('models', config)
    existing = sorted(d for d in os.listdir(models_root)) if os.path.isdir(models_root) else []
    have = (f"models under {models_root}/: {', '.join(existing)}" if existing
            else f"no models under {models_root}/")
    return (f"error: no trained model at models/{config}/{name}/ ({have}). Train one with "
            f"`python train.py {config} {name}`, or for the original authors' FiveK model run "
            "`python fetch_fivek.py --pretrained` and use `example pretrained`.")


def load_model(config, name, step):
    """GAN restored from a full checkpoint, an actor-only export, or an original TF1 checkpoint."""
    import tensorflow as tf
    import net
    import util
    model_dir = os.path.join('models', config, name)
    if not os.path.isdir(model_dir):
        raise SystemExit(model_error(config, name))
    snapshot = os.path.join(model_dir, 'config.json')
    cfg = util.load_snapshot(snapshot, config) if os.path.exists(snapshot) else util.load_config(config)
    gan = net.GAN(cfg, training=False)
    available = net.checkpoint_steps(model_dir)          # {step: prefix}, ours or the original's
    actor = os.path.join(model_dir, 'actor')
    if step is not None and step not in available:
        steps = ', '.join(map(str, sorted(available))) or 'none'
        raise SystemExit(f"error: models/{config}/{name}/ has no checkpoint for step {step}; "
                         f"available steps: {steps}")
    if step is None and not available and not os.path.exists(actor + '.index'):
        raise SystemExit(f"error: models/{config}/{name}/ holds no checkpoint yet; train it with "
                         f"`python train.py {config} {name}`")
    prefix = available[max(available) if step is None else step] if available else actor
    try:
        if net.is_original_checkpoint(prefix):
            net.load_original_checkpoint(gan, prefix)
            source = f'original TF1 checkpoint {os.path.basename(prefix)}'
        else:
            gan.load_actor(prefix)          # inference needs only the agent
            source = (f'checkpoint at iteration {step or max(available)}' if available
                      else 'actor weights')
    except (ValueError, FileNotFoundError, tf.errors.OpError) as e:
        raise SystemExit(f"error: cannot load models/{config}/{name}: {e}")
    return gan, cfg, source


# ----------------------------------------------------------------------------------------------
# Per-image work

def image_statistics(img):
    """The metric's statistics (util.image_statistics), rounded for the recipe."""
    import util
    return dict(zip(('luminance', 'contrast', 'saturation'),
                    (round(v, 4) for v in util.image_statistics(img))))


class Photo:
    """One input: its stored samples (RGB; uint8 or uint16 as stored, or float32) and how they become
    the agent's linear values, x ** exponent * gain with x in [0, 1] (util.linearize's encodings)."""

    def __init__(self, path, samples, encoding):
        import util
        self.path, self.samples, self.encoding = path, samples, encoding
        self.pixels, self.dtype = samples.shape[0] * samples.shape[1], samples.dtype
        self.exponent = util.ENCODING_EXPONENTS[encoding]
        self.gain = np.float32(1.0)
        brightest = samples.max(keepdims=True)
        if encoding == 'srgb':      # scaled by the whole image's maximum, as util.linearize does
            self.gain = util.srgb_gain(self.linear(brightest).max())
        self.peak = float(self.linear(brightest).max())    # the linear image's maximum

    def linear(self, samples):
        """util.linearize of some of this photo's samples, as if of the whole photo."""
        import util
        x = util.to_float(samples)
        return x if self.exponent == 1.0 else np.power(x, self.exponent, dtype=np.float32) * self.gain

    def load(self):
        """The samples, read again if they were let go (see BATCH_BYTES)."""
        import util
        return self.samples if self.samples is not None else util.read_samples(self.path)


def read_input(path, encoding):
    """-> Photo; encoding 'auto' takes the file's default (util.default_encoding)."""
    import util
    samples = util.read_samples(path)
    if min(samples.shape[:2]) < MIN_SIDE:
        raise util.ImageError(f"{path}: too small ({samples.shape[1]}x{samples.shape[0]}); the agent needs "
                              f"at least {MIN_SIDE} pixels on the short side")
    return Photo(path, samples, util.default_encoding(path) if encoding == 'auto' else encoding)


def low_res_view(photo, size=64):
    """Spec 8.2: the centre square of the linearized image, resized to size x size bilinearly (cv2).

    Equal to linearizing the whole square and resizing it, without doing so for a big photo: a bilinear
    reduction reads only the source rows and columns next to its samples, so only those pixels are
    linearized, into a zero square whose other pages are never touched (so never allocated).
    """
    import cv2
    import util
    square = util.center_square(photo.samples)
    side = square.shape[0]
    if side <= 4 * size:            # small, or cv2's exact-2x case (an area average of every pixel)
        return cv2.resize(photo.linear(square), (size, size), interpolation=cv2.INTER_LINEAR)
    # cv2's sample positions; each reads floor(x) and floor(x) + 1 (x is rounded to float32 first,
    # so near an integer either neighbour may be read: both are taken).
    centres = (np.arange(size) + 0.5) * (side / size) - 0.5
    first, last = np.floor(centres - 0.01).astype(int), np.floor(centres + 0.01).astype(int) + 1
    used = np.unique(np.clip(np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)]), 0, side - 1))
    linear = np.zeros(square.shape, np.float32)
    linear[np.ix_(used, used)] = photo.linear(square[np.ix_(used, used)])
    return cv2.resize(linear, (size, size), interpolation=cv2.INTER_LINEAR)


def output_paths(out_dir, path, fmt):
    base = os.path.join(out_dir, os.path.basename(path))
    ext = '.tif' if fmt == 'tiff16' else '.png'
    return {'retouched': f'{base}.retouched{ext}', 'linear': f'{base}.linear.png',
            'input_tone_mapped': f'{base}.input_tone_mapped.png', 'steps_png': f'{base}.steps.png',
            'recipe': f'{base}.steps.json',
            **{f'intermediate{i:02d}': f'{base}.intermediate{i:02d}.png' for i in range(4)}}


def write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def write_results(paths, images, fmt, recipe=None, figure=None):
    """images: Developer's uint8/uint16 outputs by output name. Writes them, the recipe and the figure."""
    import util
    for name, img in images.items():
        util.write_image(paths[name], img, fmt if name == 'retouched' else 'png')
    if recipe is not None:
        write_json(paths['recipe'], recipe)
    if figure is not None:
        util.write_image(paths['steps_png'], figure)


def make_recipe(path, encoding, model, filters, steps, k, low_res):
    """The readable edit list of image k: filter, user-unit parameters, policy, statistics."""
    entries = []
    for i, s in enumerate(steps):
        a = int(s['action'][k])
        f = filters[a]
        params = np.asarray(s['params'][a][k], np.float64)
        entries.append({
            'step': i + 1, 'filter': f.name, 'short_name': f.short_name, 'class': type(f).__name__,
            'parameters': [round(float(v), 6) for v in params], 'label': f.label(params, short=False),
            'policy': {g.short_name: round(float(p), 5) for g, p in zip(filters, s['pdf'][k])},
            'statistics_before': image_statistics(low_res[i]),
            'statistics_after': image_statistics(low_res[i + 1])})
    return {'version': RECIPE_VERSION, 'source': os.path.basename(path), 'model': model,
            'input_encoding': encoding,
            'note': 'parameters are in user units (EV, gamma, white-balance multipliers, strengths, '
                    'curve slopes); statistics are of the agent\'s 64x64 view',
            'steps': entries}


# ----------------------------------------------------------------------------------------------
# Full-resolution development (spec 8.2): the agent's edits replayed on the whole photo

CHUNK = 1 << 16        # pixels per call of the compiled development


def quantize(img, bits):
    """util.quantize inside a compiled function: clip to [0, 1], scale, round half to even."""
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
        self.functions = {np.dtype(dtype): tf.function(
            functools.partial(self._develop, scale=scale), jit_compile=True, autograph=False, input_signature=[
                tf.TensorSpec([None, 3], dtype), tf.TensorSpec([3], tf.float32),
                tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, width], tf.float32)])
            for dtype, scale in ((np.uint8, 255.0), (np.uint16, 65535.0), (np.float32, None))}
        self.pool = ThreadPoolExecutor(os.cpu_count())
        self.warm = set()

    def _develop(self, samples, curve, actions, params, scale):
        """samples (N, 3) as stored, scale their full scale (None: float); curve: exponent, gain and
        linear maximum (Photo); actions, params: pack_steps of the edits."""
        import tensorflow as tf
        import filters
        x = tf.cast(samples, tf.float32)
        if scale is not None:
            x = x / scale
        exponent, gain, peak = curve[0], curve[1], curve[2]
        x = tf.cond(exponent == 1.0, lambda: x, lambda: power(x, exponent) * gain)

        def step(i, img, stages):
            img = filters.replay_step(self.filters, img, actions[i], params[i])
            if self.intermediates:
                stages = stages.write(i, quantize(img[0, 0], 8))
            return i + 1, img, stages

        # img (1, 1, N, 3) is the filters' (B, H, W, 3); stages: the 8-bit image after each step.
        _, img, stages = tf.while_loop(lambda i, img, stages: i < tf.size(actions), step,
                                       (0, x[None, None], tf.TensorArray(tf.uint8, size=tf.size(actions))))
        retouched = quantize(img[0, 0], self.bits)
        if not self.intermediates:
            return {'retouched': retouched}
        return {'retouched': retouched, 'linear': quantize(x, 8),
                'input_tone_mapped': quantize(power(x / tf.maximum(peak, 1e-6), 1 / 2.4), 8),
                'stages': stages.stack()}

    def warm_up(self, dtype, steps):
        """Compiles for this sample type and number of steps in the background (e.g. while the agent
        runs), so the first photo does not wait for it."""
        if (dtype, steps) in self.warm:
            return
        self.warm.add((dtype, steps))
        self.pool.submit(self._run, np.zeros((self.chunk, 3), dtype), np.float32([1, 1, 1]),
                         *self._pack([(0, np.zeros(self.filters[0].num_params))] * steps))

    def _pack(self, steps):
        import filters
        return filters.pack_steps(self.filters, steps)

    def _run(self, part, curve, actions, params):
        n = len(part)
        if n < self.chunk:            # one shape for every call: XLA compiles once
            part = np.concatenate([part, np.zeros((self.chunk - n, 3), part.dtype)])
        out = self.functions[part.dtype](part, curve, actions, params)
        return {name: value.numpy()[..., :n, :] for name, value in out.items()}

    def __call__(self, photo, steps):
        """steps: [(filter index, user-unit parameters), ...] -> {output name: uint8/uint16 (H, W, 3)},
        names as output_paths: retouched, and with intermediates linear, input_tone_mapped and
        intermediate00.. (the image after each step but the last, at most 4)."""
        samples = photo.load()
        h, w = samples.shape[:2]
        pixels = samples.reshape(-1, 3)
        curve = np.float32([photo.exponent, photo.gain, photo.peak])
        actions, params = self._pack(steps)
        starts = range(0, len(pixels), self.chunk)
        parts = self.pool.map(lambda start: self._run(pixels[start:start + self.chunk], curve, actions, params),
                              starts)
        out = {}
        for start, part in zip(starts, parts):
            for name, value in part.items():
                if name not in out:
                    out[name] = np.empty(value.shape[:-2] + pixels.shape, value.dtype)
                out[name][..., start:start + value.shape[-2], :] = value
        stages = out.pop('stages', [])
        out.update({f'intermediate{i:02d}': stage for i, stage in enumerate(stages[:-1][:4])})
        return {name: img.reshape(h, w, 3) for name, img in out.items()}


# ----------------------------------------------------------------------------------------------

DEMO_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket')   # bundled with scikit-image, no download


def prepare_demo_inputs(folder):
    """Writes scikit-image's bundled photos as the shipped Sintel model's kind of input.

    The model was trained on flat, dark renders whose values are close to linear light, so the
    demo converts the (sRGB) photos to linear light, x^2.2, which makes them look like such renders.
    """
    import skimage.data
    import util
    os.makedirs(folder, exist_ok=True)
    for name in DEMO_PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255
        util.write_image(os.path.join(folder, f'{name}.png'), photo ** 2.2)
    print(f"demo inputs: {len(DEMO_PHOTOS)} photos from scikit-image, linearized, in {folder}")
    return folder


# ----------------------------------------------------------------------------------------------
# Running: the agent on batches, development and writing on worker threads

BATCH_BYTES = 1 << 30  # samples of a batch kept from reading to development; beyond, they are read again
IN_FLIGHT = 40e6       # pixels waiting for or in development and writing: bounds the memory


class Jobs:
    """Per-photo work (development and writing) on a few threads, reported in input order.

    TensorFlow and OpenCV release the GIL, so the main thread meanwhile reads the next photos and runs
    the agent. At most IN_FLIGHT pixels wait or run, which bounds the memory.
    """

    def __init__(self, workers=2):
        self.pool = ThreadPoolExecutor(workers)
        self.pending = collections.deque()        # (future, pixels), in input order
        self.pixels = 0

    def submit(self, pixels, fn, *args):
        self.pending.append((self.pool.submit(fn, *args), pixels))
        self.pixels += pixels
        while self.pending and (self.pixels > IN_FLIGHT or self.pending[0][0].done()):
            self._report_oldest()

    def _report_oldest(self):
        future, pixels = self.pending.popleft()
        print(future.result(), flush=True)       # re-raises the job's error
        self.pixels -= pixels

    def __enter__(self):
        return self

    def __exit__(self, error, *_):
        try:
            while self.pending and error is None:
                self._report_oldest()
        finally:
            self.pool.shutdown(cancel_futures=True)


def check_outputs_spare_inputs(inputs, out_dir, fmt):
    real_inputs = {os.path.realpath(p) for p in inputs}
    for p in inputs:
        for out in output_paths(out_dir, p, fmt).values():
            if os.path.realpath(out) in real_inputs:
                raise SystemExit(f"error: writing to {out_dir} would overwrite the input {out}; "
                                 "choose another --output-dir")


def develop_and_write(developer, photo, edits, paths, fmt, recipe, figure, report):
    """A worker's share of one photo: the full-resolution edits and every file. -> the report line."""
    start = time.time()
    write_results(paths, developer(photo, edits), fmt, recipe, figure)
    return f"{report} ({time.time() - start:.2f} s)"


def output_bits(fmt):
    return 8 if fmt == 'png' else 16


def read_or_skip(path, encoding):
    """The photo, or None after saying why it cannot be used (the other photos go on)."""
    import util
    try:
        return read_input(path, encoding)
    except util.ImageError as e:
        print(f"skipped: {e}", file=sys.stderr)
        return None


def run_model(args, files):
    import vis
    gan, cfg, source = load_model(args.config, args.model, args.step)
    encoding = args.encoding
    if encoding == 'auto' and getattr(cfg, 'input_kind', None) == 'folder':
        encoding = cfg.input_encoding     # the domain the model was trained on
    print(f"model models/{args.config}/{args.model} ({source}); input encoding: {encoding}")
    developer = Developer(gan.filters, output_bits(args.format), not args.no_intermediates)
    failures = 0
    with Jobs() as jobs:
        for start in range(0, len(files), args.batch_size):
            photos, low, kept = [], [], 0
            for path in files[start:start + args.batch_size]:
                photo = read_or_skip(path, encoding)
                if photo is None:
                    failures += 1
                    continue
                photos.append(photo)
                low.append(low_res_view(photo))
                kept += photo.samples.nbytes
                if kept > BATCH_BYTES:      # a batch of big photos: read them again when developing
                    photo.samples = None
            if not photos:
                continue
            for dtype in {photo.dtype for photo in photos}:
                developer.warm_up(dtype, cfg.test_steps)     # compiles while the agent runs
            steps = gan.rollout(np.stack(low), is_train=False, seed=args.seed, critique=False)
            for k, photo in enumerate(photos):
                edits = [(int(s['action'][k]), np.asarray(s['params'][int(s['action'][k])][k])) for s in steps]
                low_res = [low[k]] + [s['output'][k] for s in steps]
                recipe = make_recipe(photo.path, photo.encoding, f'{args.config}/{args.model}', gan.filters,
                                     steps, k, low_res)
                figure = None if args.no_intermediates else vis.steps_figure(
                    low_res, [{'action': e[0], 'pdf': s['pdf'][k], 'params': e[1]} for e, s in zip(edits, steps)],
                    gan.filters)
                paths = output_paths(args.output_dir, photo.path, args.format)
                report = (f"[{start + k + 1}/{len(files)}] {photo.path}: "
                          + ' > '.join(s['label'] for s in recipe['steps']) + f"  -> {paths['retouched']}")
                jobs.submit(photo.pixels, develop_and_write, developer, photo, edits, paths, args.format,
                            recipe, figure, report)
    return failures


def run_recipe(args, files):
    import filters as filters_module
    import util
    try:
        with open(args.recipe) as f:
            recipe = json.load(f)
        steps = recipe['steps']
        classes = [s['class'] for s in steps]
        edits = [(i, np.asarray(s['parameters'], np.float32)) for i, s in enumerate(steps)]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: cannot read recipe {args.recipe}: {e}")
    if not edits:
        raise SystemExit(f"error: recipe {args.recipe} has no steps")
    cfg = util.load_config('example', [])
    cfg.filters = classes                      # one filter object per step, in order
    try:
        step_filters = filters_module.build_filters(cfg)
    except ValueError as e:
        raise SystemExit(f"error: recipe {args.recipe}: {e}")
    encoding = recipe.get('input_encoding', 'auto') if args.encoding == 'auto' else args.encoding
    print(f"recipe {args.recipe}: " + ' > '.join(s.get('label', s['filter']) for s in steps))
    developer = Developer(step_filters, output_bits(args.format), not args.no_intermediates)
    failures = 0
    with Jobs() as jobs:
        for k, path in enumerate(files):
            photo = read_or_skip(path, encoding)
            if photo is None:
                failures += 1
                continue
            developer.warm_up(photo.dtype, len(edits))
            paths = output_paths(args.output_dir, path, args.format)
            jobs.submit(photo.pixels, develop_and_write, developer, photo, edits, paths, args.format, None, None,
                        f"[{k + 1}/{len(files)}] {path} -> {paths['retouched']}")
    return failures


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import util
    util.configure_tensorflow()
    if args.demo:
        args.images = args.images or [prepare_demo_inputs(os.path.join(args.output_dir, 'demo_inputs'))]
    files = util.list_images(args.images)
    if not files:
        raise SystemExit('error: no images given')
    check_outputs_spare_inputs(files, args.output_dir, args.format)
    os.makedirs(args.output_dir, exist_ok=True)
    t0 = time.time()
    failures = run_recipe(args, files) if args.recipe else run_model(args, files)
    done = len(files) - failures
    print(f"{done} of {len(files)} images retouched in {time.time() - t0:.1f} s; results in "
          f"{os.path.abspath(args.output_dir)}" + (f"; {failures} failed (see above)" if failures else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
