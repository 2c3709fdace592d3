"""Does a model keep its edits when its weights are stored in float16 (`train.py --export DIR --half`)?

    python bench/half_weights.py CONFIG MODEL IMAGES... [--seed 0] [--batch-size 16]
    python bench/half_weights.py photos pretrained outputs/exposure_errors/renders

The model's weights are written in float16 through the real export path (GAN.save_actor) to a
temporary folder and loaded back (GAN.load_actor casts them to float32). Both copies then run the
agent on every image (its 64x64 view, the per-photo seeds of evaluate.py --seed), and the table
reports how many filter choices differ (an image counts until its first different choice: its later
steps no longer correspond), the largest difference of the chosen filters' parameters and of the
64x64 outputs while the choices agree (values in [0, 1]; one 8-bit level is 0.0039). A model whose
choices change on more than the odd near-tie should stay in float32.
"""
import argparse
import os
import sys
import tempfile

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/half_weights.py` from anywhere

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import develop  # noqa: E402
import model_folder  # noqa: E402
import image_io  # noqa: E402
import net  # noqa: E402
import util  # noqa: E402


def compare(full, half, low, seeds):
    """-> (choices that differ, choices compared, max parameter difference, max output difference).

    An image is compared step by step until its two copies choose differently: after that its
    episodes no longer correspond. Differences are taken over the steps where the choices agree."""
    a = full.rollout(low, seed=seeds, critique=False)
    b = half.rollout(low, seed=seeds, critique=False)
    agree = np.ones(len(low), bool)
    changed = total = 0
    param_diff = output_diff = 0.0
    for sa, sb in zip(a, b):
        same = sa['action'] == sb['action']
        changed += int((agree & ~same).sum())
        total += int(agree.sum())
        agree &= same
        for k in np.flatnonzero(agree):
            j = sa['action'][k]
            param_diff = max(param_diff, float(np.abs(sa['params'][j][k] - sb['params'][j][k]).max()))
            output_diff = max(output_diff, float(np.abs(np.clip(sa['output'][k], 0, 1) -
                                                        np.clip(sb['output'][k], 0, 1)).max()))
    return changed, total, param_diff, output_diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('model')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--seed', type=int, default=0, help='evaluate.py --seed (default 0)')
    parser.add_argument('--batch-size', type=int, default=16)
    args = parser.parse_args(argv)
    util.configure_tensorflow()
    try:
        full, cfg, model_dir, source = model_folder.load_model(args.config, args.model, None)
    except model_folder.ModelError as e:
        raise SystemExit(f"error: {e}")
    half = net.GAN(cfg, training=False)
    with tempfile.TemporaryDirectory() as tmp:
        full.save_actor(os.path.join(tmp, 'actor'), tf.float16)
        half.load_actor(os.path.join(tmp, 'actor'))
        half_bytes = os.path.getsize(os.path.join(tmp, 'actor.data-00000-of-00001'))
    files = image_io.list_images(args.images)
    encoding = develop.model_encoding(cfg, 'auto')
    changed = total = 0
    param_diff = output_diff = 0.0
    for start in range(0, len(files), args.batch_size):
        try:
            photos = [develop.read_input(path, encoding) for path in files[start:start + args.batch_size]]
        except image_io.ImageError as e:
            raise SystemExit(f"error: {e}")
        low = np.stack([develop.low_res_view(p) for p in photos])
        seeds = [develop.photo_seed(args.seed, p.samples) for p in photos]
        c, t, p, o = compare(full, half, low, seeds)
        changed, total = changed + c, total + t
        param_diff, output_diff = max(param_diff, p), max(output_diff, o)
        print(f"{start + len(photos)}/{len(files)} images: {changed} of {total} choices differ", file=sys.stderr)
    print(f"model {model_dir} ({source}), {len(files)} images, seed {args.seed}, encoding {encoding}")
    print(f"float16 weights: {half_bytes / 1e6:.1f} MB")
    print(f"choices that differ      {changed} of {total}")
    print(f"max parameter difference {param_diff:.2e}")
    print(f"max 64x64 output diff    {output_diff:.2e}  (one 8-bit level: {1 / 255:.2e})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
