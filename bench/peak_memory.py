"""Peak memory of evaluate.py on one big generated PNG: MB per megapixel, and what a photo at
image_io.MAX_PIXELS would need.

    python bench/peak_memory.py [--megapixels 2 12 24] [--bits 8] [--no-intermediates] [--format png]
                                [--recipe]

Each size is a separate evaluate.py process (the shipped photos/pretrained model by default, or with
--recipe a saved 5-step recipe: no model, so a smaller fixed part), whose peak resident memory the
kernel reports when it ends (getrusage of the waited child: ru_maxrss). The photo is a smooth
gradient with noise, so its PNG compresses as a photo does. The per-megapixel figure is the slope
between the smallest and the largest size (the fixed part, TensorFlow and the model, drops out); the
estimate for MAX_PIXELS is extrapolated from it: this bench is meant for shared machines, where a
photo at the limit (hundreds of megapixels) should not be run.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import image_io  # noqa: E402

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = {'version': 1, 'input_encoding': 'srgb', 'steps': [
    {'class': 'ExposureFilter', 'parameters': [0.5]}, {'class': 'GammaFilter', 'parameters': [0.8]},
    {'class': 'ImprovedWhiteBalanceFilter', 'parameters': [0.95, 1.02, 0.98]},
    {'class': 'SaturationPlusFilter', 'parameters': [0.3]}, {'class': 'ContrastFilter', 'parameters': [0.4]}]}


def make_photo(path, megapixels, bits):
    """A 3:2 photo of about `megapixels`: a colour gradient with noise, written in row bands."""
    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(megapixels * 1e6 / w))
    dtype, full = (np.uint8, 255) if bits == 8 else (np.uint16, 65535)
    rng = np.random.default_rng(0)
    img = np.empty((h, w, 3), dtype)
    x = np.linspace(0.1, 0.8, w, dtype=np.float32)
    for top in range(0, h, 256):
        y = np.linspace(0.2, 0.7, h, dtype=np.float32)[top:top + 256, None]
        band = np.dstack([x[None] * 0 + y, (x[None] + y) / 2, x[None] * np.ones_like(y)])
        band += rng.normal(0, 0.02, band.shape).astype(np.float32)
        img[top:top + 256] = np.clip(band * full, 0, full).astype(dtype)
    assert cv2.imwrite(path, img)
    return w, h


def peak_mb(argv):
    """Runs a command; -> its peak resident memory in MB (ru_maxrss is in KB on Linux)."""
    process = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--megapixels', type=float, nargs='+', default=[2, 12, 24])
    parser.add_argument('--bits', type=int, choices=[8, 16], default=8)
    parser.add_argument('--format', default='png', choices=list(image_io.OUTPUT_FORMATS))
    parser.add_argument('--no-intermediates', action='store_true')
    parser.add_argument('--recipe', action='store_true', help='a saved recipe instead of the shipped model')
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        recipe = os.path.join(tmp, 'edit.steps.json')
        with open(recipe, 'w') as f:
            json.dump(RECIPE, f)
        for megapixels in sorted(args.megapixels):
            photo = os.path.join(tmp, f'photo{megapixels:g}.png')
            w, h = make_photo(photo, megapixels, args.bits)
            how = ['--recipe', recipe, photo] if args.recipe else ['photos', 'pretrained', photo, '--seed', '0']
            peak = peak_mb([sys.executable, 'evaluate.py', *how, '--output-dir', os.path.join(tmp, 'out'),
                            '--format', args.format] + (['--no-intermediates'] if args.no_intermediates else []))
            rows.append((w * h / 1e6, peak))
            print(f"{w}x{h} ({w * h / 1e6:.1f} MP, {os.path.getsize(photo) / 1e6:.0f} MB PNG): peak {peak:,.0f} MB",
                  flush=True)
            os.remove(photo)
    (small, low), (large, high) = rows[0], rows[-1]
    slope = (high - low) / (large - small)
    fixed = low - slope * small
    limit = image_io.MAX_PIXELS / 1e6
    print(f"{slope:.1f} MB per megapixel ({slope:.1f} bytes per pixel) above a fixed {fixed:,.0f} MB; "
          f"a photo at the limit ({limit:,.0f} MP) would peak at about {(fixed + slope * limit) / 1e3:.1f} GB "
          f"(extrapolated) with {'--recipe' if args.recipe else 'photos pretrained'}, {args.bits}-bit PNG in, "
          f"--format {args.format}{', --no-intermediates' if args.no_intermediates else ''}")


if __name__ == '__main__':
    main()
