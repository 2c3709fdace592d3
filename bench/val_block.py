"""Choose a folder dataset's held-out block from data statistics alone (before any training).

    python bench/val_block.py INPUT_DIR TARGET_DIR [--fraction 0.15]

Of all contiguous blocks of ceil(fraction * N) files (sorted by name) that contain no blank frame
(mean target value under 0.005, where PSNR is undefined), prints the ones whose per-frame mean
values, of inputs and of targets, are distributed most like the remaining frames: the larger of the
two two-sample Kolmogorov-Smirnov distances, smallest first. config_sintel.py's val_first is the
first line's start on ../shared/data/sintel.
"""
import argparse
import math
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/val_block.py` from anywhere

import numpy as np  # noqa: E402

import image_io  # noqa: E402


def ks_distance(a, b):
    """Largest gap between the empirical distribution functions of samples a and b."""
    x = np.concatenate([a, b])
    cdf = lambda s: np.searchsorted(np.sort(s), x, side='right') / len(s)
    return float(np.max(np.abs(cdf(a) - cdf(b))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input_dir')
    parser.add_argument('target_dir')
    parser.add_argument('--fraction', type=float, default=0.15)
    parser.add_argument('--top', type=int, default=5, help="how many blocks to print")
    args = parser.parse_args()
    names = sorted(os.path.basename(p) for p in image_io.list_images([args.input_dir]))
    print(f"reading {len(names)} input/target pairs ...", flush=True)
    means = np.array([[image_io.read_image(os.path.join(d, n)).mean() for d in (args.input_dir, args.target_dir)]
                      for n in names])
    n_val = math.ceil(args.fraction * len(names) - 1e-9)
    blank = means[:, 1] < 0.005
    blocks = []
    for start in range(len(names) - n_val + 1):
        held = np.zeros(len(names), bool)
        held[start:start + n_val] = True
        if not blank[held].any():
            distance = max(ks_distance(means[held, i], means[~held, i]) for i in (0, 1))
            blocks.append((distance, start))
    print(f"all frames: mean input {means[:, 0].mean():.3f}, mean target {means[:, 1].mean():.3f}; "
          f"{int(blank.sum())} blank frames")
    for distance, start in sorted(blocks)[:args.top]:
        block = means[start:start + n_val]
        print(f"KS {distance:.3f}  val_first={names[start]} (to {names[start + n_val - 1]}, {n_val} files): "
              f"mean input {block[:, 0].mean():.3f}, mean target {block[:, 1].mean():.3f}")


if __name__ == '__main__':
    main()
