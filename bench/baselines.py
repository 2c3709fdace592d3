"""Simple automatic corrections a user might reach for, scored against the targets like the model.

    python bench/baselines.py INPUT_DIR TARGET_DIR OUT_DIR [--files-from LIST] [--extra NAME=DIR ...]

Every input image (values as stored, e.g. Sintel's display-encoded JPEG frames) goes through each
baseline; the results are written to OUT_DIR/<baseline>/<name>.png and each folder is scored against
TARGET_DIR with score.py (histogram intersection, and PSNR/SSIM/CIEDE2000 of the pairs). --extra adds
other folders, such as the model's evaluate.py outputs, to the same table. All rows are scored on the
same names: the inputs processed here (restricted by --files-from, e.g. the held-out frames), and the
targets of those names.
"""
import argparse
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/baselines.py` from anywhere

import numpy as np  # noqa: E402
from skimage import exposure  # noqa: E402

import image_io  # noqa: E402
import score  # noqa: E402
import util  # noqa: E402

LUM_WEIGHTS = np.array(util.LUM_WEIGHTS, np.float32)


def identity(img):
    """The input unchanged."""
    return img


def auto_exposure_gamma(img):
    """One global gamma on all channels, chosen so the mean luminance maps to 0.5: log 0.5 / log mean."""
    # Clipped so that a black or white frame keeps a finite gamma.
    mean = float(np.clip((img @ LUM_WEIGHTS).mean(), 1e-3, 1.0 - 1e-3))
    return np.power(img, np.float32(np.log(0.5) / np.log(mean)))


def clahe(img):
    """scikit-image's CLAHE on the HSV value channel, defaults: clip limit 0.01, tiles 1/8 of the image."""
    return exposure.equalize_adapthist(img).astype(np.float32)


def grayworld_levels(img):
    """Gray-world white balance (channel means scaled to their mean), joint 1st/99th percentile stretch."""
    means = img.reshape(-1, 3).mean(axis=0)
    balanced = img * (means.mean() / np.maximum(means, 1e-6))
    low, high = np.percentile(balanced, (1, 99))   # over all channels at once, so the balance is kept
    return np.clip((balanced - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


BASELINES = {f.__name__: f for f in (identity, auto_exposure_gamma, clahe, grayworld_levels)}


def write_baselines(input_paths, out_dir):
    """Applies every baseline to every readable input; returns the name keys written."""
    written = set()
    for i, path in enumerate(input_paths):
        try:
            img = image_io.read_image(path)
        except image_io.ImageError as e:
            print(f"warning: skipped {e}", file=sys.stderr)
            continue
        key = score.name_key(path)
        for name, baseline in BASELINES.items():
            image_io.write_image(os.path.join(out_dir, name, key + '.png'), baseline(img))
        written.add(key)
        if sys.stderr.isatty():   # a live counter on a terminal, no clutter in logs
            print(f"\rbaselines: {i + 1}/{len(input_paths)}", end='', file=sys.stderr, flush=True)
    print(f"\rbaselines: {len(written)} images written to {out_dir}", file=sys.stderr)
    if not written:
        raise ValueError("no input image could be read")
    return written


def parse_extra(items):
    """['model=outputs/sintel', ...] -> {'model': 'outputs/sintel'}."""
    extra = {}
    for item in items:
        name, sep, folder = item.partition('=')
        if not sep or not name or not folder:
            raise ValueError(f"--extra {item!r}: expected NAME=DIR, e.g. --extra model=outputs/sintel")
        if name in BASELINES or name in extra:
            raise ValueError(f"--extra {item!r}: the name {name!r} is already used; pick another")
        extra[name] = folder
    return extra


def check_out_dir(out_dir, protected):
    """Refuses an OUT_DIR whose baseline folders would overwrite the inputs or the targets."""
    protected = {os.path.realpath(p) for p in protected}
    for name in BASELINES:
        if os.path.realpath(os.path.join(out_dir, name)) in protected:
            raise ValueError(f"OUT_DIR {out_dir}: writing {name}/ there would overwrite an input or "
                             "target folder; choose another OUT_DIR")


def format_table(scores):
    lines = [f"{'':20} {'lum %':>6} {'con %':>6} {'sat %':>6} {'avg %':>6} {'PSNR':>6} {'SSIM':>6} "
             f"{'dE00':>6} {'pairs':>5}"]
    for name, result in scores.items():
        h, p = result['histogram_intersection'], result['paired_metrics']
        lines.append(f"{name:20} {h['luminance']:6.2f} {h['contrast']:6.2f} {h['saturation']:6.2f} "
                     f"{h['average']:6.2f} {score.format_number(p['psnr']):>6} "
                     f"{score.format_number(p['ssim'], 4):>6} {score.format_number(p['ciede2000']):>6} "
                     f"{p['count']:5d}")
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input_dir', help='folder of input images')
    parser.add_argument('target_dir', help='folder of target images, paired with the inputs by name')
    parser.add_argument('out_dir', help='where OUT_DIR/<baseline>/<name>.png are written')
    parser.add_argument('--files-from', metavar='LIST', help='use only the inputs this list names')
    parser.add_argument('--extra', action='append', default=[], metavar='NAME=DIR',
                        help='another output folder to score in the same table (repeatable)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random patches (default 0)')
    parser.add_argument('--json-only', action='store_true', help='print only the JSON line')
    args = parser.parse_args(argv)
    try:
        extra = parse_extra(args.extra)
        check_out_dir(args.out_dir, [args.input_dir, args.target_dir])
        keys = score.read_name_list(args.files_from) if args.files_from else None
        keys = write_baselines(score.list_folder(args.input_dir, 'input', keys), args.out_dir)
        folders = {name: os.path.join(args.out_dir, name) for name in BASELINES} | extra
        scores = {name: score.score_folders(folder, args.target_dir, args.seed, keys)
                  for name, folder in folders.items()}
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    if not args.json_only:
        print(f"{len(keys)} images from {args.input_dir}, targets {args.target_dir}, seed {args.seed}")
        print(format_table(scores))
    print(score.to_json({'inputs': args.input_dir, 'targets': args.target_dir, 'seed': args.seed,
                         'images': len(keys), 'scores': scores}))


if __name__ == '__main__':
    main()
