"""Remakes the README's demo figures from a run of evaluate.py on its demo photos: scikit-image's photos
rendered with exposure errors (top row), corrected by a photo model (middle) and the originals (bottom)
in docs/demo_before_after.jpg, and the step figure of the first photo in docs/demo_steps.png. Prints each
photo's PSNR against its original before and after, the figures the README's caption quotes.

    python bench/demo_figure.py [--config photos] [--model pretrained] [--seed 0] [--out-dir docs]

A candidate model (say models/photos/p20k) can be shown before it replaces the shipped one; --out-dir
elsewhere leaves the committed figures alone. The files are written atomically.
"""
import argparse
import os
import shutil
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

import atomic  # noqa: E402
import evaluate  # noqa: E402
import image_io  # noqa: E402
import score  # noqa: E402

ROW_HEIGHT = 256   # pixels of each photo in the figure
GAP = 8            # white pixels between the rows


def row(images):
    """Photos side by side, each scaled to ROW_HEIGHT."""
    return np.hstack([cv2.resize(img, (img.shape[1] * ROW_HEIGHT // img.shape[0], ROW_HEIGHT),
                                 interpolation=cv2.INTER_AREA) for img in images])


def grid(rows):
    gap = np.ones((GAP, rows[0].shape[1], 3), np.float32)
    return np.vstack([part for r in rows for part in (gap, r)][1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='photos')
    parser.add_argument('--model', default='pretrained')
    parser.add_argument('--seed', type=int, default=0, help="the agent's test-time dropout seed (default 0)")
    parser.add_argument('--out-dir', default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs'))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        inputs = evaluate.prepare_demo_inputs(os.path.join(work, 'inputs'))
        results = os.path.join(work, 'results')
        code = evaluate.main([args.config, args.model, inputs, '--seed', str(args.seed), '--output-dir', results])
        if code != 0:
            sys.exit(f"evaluate.py failed on the demo photos (exit {code}): see above")
        rows = [], [], []
        print(f"model {args.config}/{args.model}, seed {args.seed}: PSNR against the original, before -> after")
        for name, ev in evaluate.DEMO_PHOTOS:
            file = f'{name}_ev{ev:+.1f}.png'
            original = getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255
            before = image_io.read_image(os.path.join(inputs, file))
            after = image_io.read_image(os.path.join(results, f'{file}.retouched.png'))
            psnr = [score.pair_metrics(img, original)[0] for img in (before, after)]
            print(f"  {name} {ev:+.1f} EV: {psnr[0]:.1f} -> {psnr[1]:.1f} dB")
            for images, img in zip(rows, (before, after, original)):
                images.append(img)
        os.makedirs(args.out_dir, exist_ok=True)
        figure = image_io.write_image(os.path.join(args.out_dir, 'demo_before_after.jpg'),
                                      grid([row(images) for images in rows]))
        steps = os.path.join(args.out_dir, 'demo_steps.png')
        source = os.path.join(results, f'{evaluate.DEMO_PHOTOS[0][0]}_ev{evaluate.DEMO_PHOTOS[0][1]:+.1f}.png.steps.png')
        with open(source, 'rb') as f, atomic.atomic_write(steps) as out:
            shutil.copyfileobj(f, out)
    print(f"wrote {figure} and {steps}")


if __name__ == '__main__':
    main()
