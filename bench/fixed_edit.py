"""Baseline for paired data: ONE fixed edit for every frame, fitted to the training pairs; and with
--per-frame, the white-box ceiling: each held-out frame's own edit, fitted to its own target.

    python bench/fixed_edit.py [CONFIG] [--out DIR] [--steps 600] [--per-frame | --linear] [--key=value ...]
    python bench/fixed_edit.py sintel --input_dir=../shared/data/sintel/inputs \
        --target_dir=../shared/data/sintel/outputs

The same exposure, gamma, white balance, tone curve and colour curve parameters (filters.py's own
filters, in that order) are applied to every frame; they are fitted by Adam through the filters to
the training split's aligned input/target patches (data.make_pair_provider: 64x64, the agent's
resolution), minimizing the mean squared error. The fitted edit is then applied at full resolution to
the held-out inputs and written to --out/<name>.png (score them with `python score.py OUT TARGETS`),
and the mean PSNR against the held-out targets is printed. A paired agent, which sees each frame,
should beat this clearly: it is what a colourist's single grade for the whole film achieves.

--per-frame instead fits one edit per held-out frame to that frame's target, on the 64x64 views the
agent sees (the centre square, develop.low_res_view), and applies it to the whole frame at full
resolution (default --out outputs/per_frame_edit). It sees the target, so it is not a method but a
ceiling: what five global filters could reach if an agent predicted every parameter perfectly.

--linear is the simplest learned per-frame edit, a baseline for a paired agent that sees each frame:
the same filters, with parameters that are a linear function of 28 statistics of the agent's 64x64
view (mean, spread and 5/25/50/75/95th percentiles of R, G, B and luminance), fitted end to end
through the filters like the fixed edit (default --out outputs/linear_edit). Its L2 penalty is the
one of LINEAR_PENALTIES with the least error on the last 15% of the training frames (a block, as the
held-out frames are) when fitted on the rest; the map is then fitted again on all training frames.
These five fits measure their error on 2x2 averages of the patches: the filters are global, so the
fit is about the same, and four times cheaper.
"""
import argparse
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/fixed_edit.py` from anywhere

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio  # noqa: E402

import configurator  # noqa: E402
import data  # noqa: E402
import develop  # noqa: E402
import image_io  # noqa: E402
from filters import (ColorFilter, ExposureFilter, GammaFilter, ImprovedWhiteBalanceFilter,  # noqa: E402
                     ToneFilter)

CHAIN = (ExposureFilter, GammaFilter, ImprovedWhiteBalanceFilter, ToneFilter, ColorFilter)
LINEAR_PENALTIES = (0.0, 1e-4, 1e-3, 1e-2)


def statistics(views):
    """(N, 28) of (N, 64, 64, 3) views: mean, standard deviation and 5/25/50/75/95th percentiles of R,
    G, B and luminance."""
    luminance = views @ np.array(image_io.LUM_WEIGHTS, np.float32)[:, None]
    x = np.concatenate([views, luminance], axis=-1).reshape(len(views), -1, 4)
    return np.concatenate([x.mean(1), x.std(1), *np.percentile(x, [5, 25, 50, 75, 95], axis=1)], axis=1)


def fit(cfg, patches, steps, per_frame=False, features=None, penalty=0.0, lr=0.05, seed=0):
    """Pre-activations of CHAIN that minimize the MSE of input to target patches (channels 0-2 and
    3-5): one row shared by all patches (batches of 256), or with per_frame one row per patch (all
    patches in every step). With features (one row per patch), each row is that shared row plus a
    linear map of the patch's features (the maps returned, their squared weights penalized)."""
    chain = [f(cfg) for f in CHAIN]
    raw = [tf.Variable(tf.zeros([len(patches) if per_frame else 1, f.num_params])) for f in chain]
    maps = [] if features is None else [tf.Variable(tf.zeros([features.shape[1], f.num_params])) for f in chain]
    optimizer = tf.keras.optimizers.Adam(lr)
    inputs, targets = tf.constant(patches[..., :3]), tf.constant(patches[..., 3:])
    if maps:
        features = tf.constant(features, tf.float32)
    rng = np.random.default_rng(seed)

    @tf.function
    def step(index):
        x, y = tf.gather(inputs, index), tf.gather(targets, index)
        with tf.GradientTape() as tape:
            rows = [tf.gather(r, index) for r in raw] if per_frame else raw
            if maps:
                rows = [r + tf.gather(features, index) @ m for r, m in zip(rows, maps)]
            loss = tf.reduce_mean(tf.square(tf.clip_by_value(apply(chain, rows, x), 0.0, 1.0) - y))
            penalized = loss + penalty * sum(tf.reduce_sum(tf.square(m)) for m in maps)
        variables = raw + maps
        optimizer.apply_gradients(zip(tape.gradient(penalized, variables), variables))
        return loss

    for i in range(steps):
        loss = step(np.arange(len(patches)) if per_frame else
                    rng.choice(len(patches), min(256, len(patches)), replace=False))
        if i % 100 == 0 or i == steps - 1:
            print(f"step {i:4d}: training MSE {float(loss):.5f}", file=sys.stderr, flush=True)
    return chain, raw, maps


def fit_linear(cfg, patches, steps):
    """fit with features: the penalty chosen on a block of the training frames, then refitted on all.
    -> chain, raw, maps, and the features' mean and scale (new views are standardized with them)."""
    features = statistics(patches[..., :3])
    mean, scale = features.mean(0), features.std(0) + 1e-6
    features = (features - mean) / scale
    n, size = patches.shape[:2]
    patches = patches.reshape(n, size // 2, 2, size // 2, 2, 6).mean(axis=(2, 4))
    cut = int(0.85 * len(patches)) // data.COPIES * data.COPIES    # a frame's patches stay together
    errors = {}
    for penalty in LINEAR_PENALTIES:
        chain, raw, maps = fit(cfg, patches[:cut], steps, features=features[:cut], penalty=penalty)
        rows = [r + tf.constant(features[cut:], tf.float32) @ m for r, m in zip(raw, maps)]
        out = tf.clip_by_value(apply(chain, rows, patches[cut:, ..., :3]), 0.0, 1.0)
        errors[penalty] = float(tf.reduce_mean(tf.square(out - patches[cut:, ..., 3:])))
        print(f"penalty {penalty:g}: MSE {errors[penalty]:.5f} on the last {len(patches) - cut} training "
              "patches, fitted on the others", file=sys.stderr, flush=True)
    penalty = min(errors, key=errors.get)
    print(f"penalty {penalty:g} chosen", flush=True)
    return (*fit(cfg, patches, steps, features=features, penalty=penalty), mean, scale)


def apply(chain, raw, images):
    """CHAIN with pre-activations `raw` (one row for every image, or a row per image) on `images`."""
    for f, r in zip(chain, raw):
        images = f.apply(images, tf.broadcast_to(r, [tf.shape(images)[0], f.num_params]))
    return images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', default='sintel')
    parser.add_argument('--out', help='result folder (default outputs/fixed_edit, per_frame_edit or linear_edit)')
    parser.add_argument('--steps', type=int, default=600,
                        help='Adam steps (batches of 256 patches; with --per-frame, all frames each step)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--per-frame', action='store_true',
                      help="fit each held-out frame's own edit to its target (a ceiling, not a method)")
    mode.add_argument('--linear', action='store_true',
                      help="each frame's edit a linear function of its view's statistics (a learned baseline)")
    args, overrides = parser.parse_known_args(argv)
    name = 'per_frame' if args.per_frame else 'linear' if args.linear else 'fixed'
    out_dir = args.out or os.path.join('outputs', f'{name}_edit')
    cfg = configurator.load_config(args.config, overrides + ['--seed=0'])
    try:
        held_out = data.folder_split(cfg, 'input', 'val')
        targets = data.matching_targets(held_out, data._resolve(cfg.target_dir))
        if args.per_frame:
            views = [[develop.low_res_view(develop.read_input(path, encoding)) for path in paths]
                     for paths, encoding in ((held_out, cfg.input_encoding), (targets, cfg.target_encoding))]
            patches = np.concatenate(views, axis=-1).astype(np.float32)
        else:
            provider = data.make_pair_provider(cfg, 'train')
            provider.close()   # only its patches are used
            patches = provider.patches
    except (data.DataError, image_io.ImageError) as e:
        raise SystemExit(f"error: {e}")
    if args.linear:
        chain, raw, maps, mean, scale = fit_linear(cfg, patches, args.steps)
    else:
        chain, raw, maps = fit(cfg, patches, args.steps, per_frame=args.per_frame)
    if name == 'fixed':
        for f, r in zip(chain, raw):
            values = np.asarray(f.parameters(r)).ravel()
            print(f"{type(f).__name__:28s} " + ' '.join(f'{v:.3f}' for v in values))
    scores = []
    for i, (source, target) in enumerate(zip(held_out, targets)):
        photo = develop.read_input(source, cfg.input_encoding)
        img = photo.linear(photo.samples)
        rows = [r[i:i + 1] for r in raw] if args.per_frame else raw
        if maps:
            features = tf.constant((statistics(develop.low_res_view(photo)[None]) - mean) / scale, tf.float32)
            rows = [r + features @ m for r, m in zip(rows, maps)]
        out = np.clip(apply(chain, rows, tf.constant(img[None]))[0].numpy(), 0.0, 1.0)
        image_io.write_image(os.path.join(out_dir, os.path.splitext(os.path.basename(source))[0] + '.png'), out)
        scores.append(peak_signal_noise_ratio(image_io.read_image(target), image_io.quantize(out, 8) / np.float32(255),
                                              data_range=1.0))
    label = {'per_frame': 'per-frame edits (ceiling)', 'linear': 'linear edits of frame statistics',
             'fixed': 'fixed edit'}[name]
    print(f"{label} on {len(scores)} held-out "
          f"frames: PSNR {np.mean(scores):.2f} dB (results in {out_dir})")

if __name__ == '__main__':
    main()
