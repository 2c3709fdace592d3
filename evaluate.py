"""Retouch photos with a trained agent, or re-apply a saved edit recipe.

  python evaluate.py <config> <model-name> <images, folders or globs...>
  python evaluate.py --recipe outputs/A.tif.steps.json <images...>
  python evaluate.py --demo          (the shipped Sintel model on photos bundled with scikit-image)

The agent looks at the 64x64 centre square of each (linearized) image, picks 5 filters and their
parameters (argmax choice; dropout stays on, so use --seed for repeatable output), and the same
filter code replays those edits on the full-resolution image (spec 8.2). Outputs keep the original
names: <name>.retouched.png, .intermediate00-03.png, .linear.png, .input_tone_mapped.png,
.steps.png (spec 8.3) and <name>.steps.json, a readable recipe replacing the original's pickle.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np

RECIPE_VERSION = 1
MIN_SIDE = 16          # smaller images give the agent no usable 64x64 view
DEMO_MODEL = ('sintel', 'pretrained')


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Retouch photos with a trained Exposure agent, or re-apply a saved recipe.',
        epilog='examples:\n'
               '  python evaluate.py sintel pretrained photo.jpg raw_folder/ "shoot/*.tif"\n'
               '  python evaluate.py example pretrained models/sample_inputs/*.tif\n'
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
    if os.path.exists(snapshot):
        with open(snapshot) as f:
            saved = json.load(f)
        cfg = util.load_config(config)
        for key, value in saved.items():
            setattr(cfg, key, tuple(value) if isinstance(getattr(cfg, key, None), tuple) else value)
    else:
        cfg = util.load_config(config)
    gan = net.GAN(cfg)
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
    """Mean luminance, contrast (2 x std of luminance) and mean HLS saturation (as the metric)."""
    import cv2
    x = np.clip(img, 0, 1).astype(np.float32)
    luminance = x @ np.float32([0.27, 0.67, 0.06])
    saturation = cv2.cvtColor(x, cv2.COLOR_RGB2HLS)[..., 2]
    return {'luminance': round(float(luminance.mean()), 4),
            'contrast': round(float(2 * luminance.std()), 4),
            'saturation': round(float(saturation.mean()), 4)}


def low_res_view(img, size=64):
    """Spec 8.2: the centre square resized to 64x64 with bilinear interpolation."""
    import cv2
    import util
    return cv2.resize(util.center_square(img), (size, size), interpolation=cv2.INTER_LINEAR)


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


def write_results(paths, linear, results, args, recipe=None, figure=None):
    """results: full-resolution image after each step. Writes the outputs that were asked for."""
    import util
    util.write_image(paths['retouched'], results[-1], args.format)
    if recipe is not None:
        write_json(paths['recipe'], recipe)
    if args.no_intermediates:
        return
    for i, img in enumerate(results[:-1][:4]):
        util.write_image(paths[f'intermediate{i:02d}'], img)
    util.write_image(paths['linear'], linear)
    util.write_image(paths['input_tone_mapped'], (linear / max(float(linear.max()), 1e-6)) ** (1 / 2.4))
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


def check_outputs_spare_inputs(inputs, out_dir, fmt):
    real_inputs = {os.path.realpath(p) for p in inputs}
    for p in inputs:
        for out in output_paths(out_dir, p, fmt).values():
            if os.path.realpath(out) in real_inputs:
                raise SystemExit(f"error: writing to {out_dir} would overwrite the input {out}; "
                                 "choose another --output-dir")


def read_input(path, encoding):
    import util
    img = util.load_linear(path, None if encoding == 'auto' else encoding)
    if min(img.shape[:2]) < MIN_SIDE:
        raise util.ImageError(f"{path}: too small ({img.shape[1]}x{img.shape[0]}); the agent needs "
                              f"at least {MIN_SIDE} pixels on the short side")
    return img


def run_model(args, files):
    import filters as filters_module
    import util
    import vis
    gan, cfg, source = load_model(args.config, args.model, args.step)
    encoding = args.encoding
    if encoding == 'auto' and getattr(cfg, 'input_kind', None) == 'folder':
        encoding = cfg.input_encoding     # the domain the model was trained on
    print(f"model models/{args.config}/{args.model} ({source}); input encoding: {encoding}")
    failures = 0
    for start in range(0, len(files), args.batch_size):
        chunk, images = [], []
        for path in files[start:start + args.batch_size]:
            try:
                images.append(read_input(path, encoding))
                chunk.append(path)
            except util.ImageError as e:
                print(f"skipped: {e}", file=sys.stderr)
                failures += 1
        if not chunk:
            continue
        low = np.stack([low_res_view(img) for img in images])
        steps = gan.rollout(low, is_train=False, seed=args.seed)
        for k, (path, img) in enumerate(zip(chunk, images)):
            t0 = time.time()
            edits = [(int(s['action'][k]), np.asarray(s['params'][int(s['action'][k])][k])) for s in steps]
            results = filters_module.replay(gan.filters, img, edits)
            low_res = [low[k]] + [s['output'][k] for s in steps]
            used_encoding = util.default_encoding(path) if encoding == 'auto' else encoding
            recipe = make_recipe(path, used_encoding, f'{args.config}/{args.model}', gan.filters,
                                 steps, k, low_res)
            figure = None if args.no_intermediates else vis.steps_figure(
                low_res, [{'action': e[0], 'pdf': s['pdf'][k], 'params': e[1]} for e, s in zip(edits, steps)],
                gan.filters)
            paths = output_paths(args.output_dir, path, args.format)
            write_results(paths, img, results, args, recipe, figure)
            print(f"[{start + k + 1}/{len(files)}] {path}: "
                  + ' > '.join(s['label'] for s in recipe['steps'])
                  + f"  -> {paths['retouched']} ({time.time() - t0:.2f} s)", flush=True)
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
    cfg = util.load_config('example', [])
    cfg.filters = classes                      # one filter object per step, in order
    try:
        step_filters = filters_module.build_filters(cfg)
    except ValueError as e:
        raise SystemExit(f"error: recipe {args.recipe}: {e}")
    encoding = recipe.get('input_encoding', 'auto') if args.encoding == 'auto' else args.encoding
    print(f"recipe {args.recipe}: " + ' > '.join(s.get('label', s['filter']) for s in steps))
    failures = 0
    for k, path in enumerate(files):
        try:
            img = read_input(path, encoding)
        except util.ImageError as e:
            print(f"skipped: {e}", file=sys.stderr)
            failures += 1
            continue
        results = filters_module.replay(step_filters, img, edits)
        paths = output_paths(args.output_dir, path, args.format)
        write_results(paths, img, results, args)
        print(f"[{k + 1}/{len(files)}] {path} -> {paths['retouched']}", flush=True)
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
