"""Scores a folder of outputs against a folder of targets.

    python score.py OUTPUT_DIR TARGET_DIR [--seed N] [--files-from LIST] [--json-only]

Two kinds of score:
- the paper's distribution metric (spec 8.6): histogram intersection of per-patch luminance, contrast
  and saturation between the two folders, each and averaged, in %. It needs no pairing, like the
  unpaired training itself;
- where an output and a target share a name, the mean PSNR, SSIM and CIEDE2000 colour difference
  (scikit-image's implementations) over those pairs. SSIM needs 7x7 pixels: a smaller pair has none
  (a note says so), and the SSIM mean is over the other pairs.

Pairing: a file's name without its image extensions and evaluate.py's `.retouched` is its key, so the
output `0612.jpg.retouched.png` (or `0612.retouched.png`, `0612.png`) pairs with the target
`0612.jpg`, and `frame.0001.jpg.retouched.png` with `frame.0001.jpg`. When the output folder holds
evaluate.py's files (`X.retouched.png` or `.tif` beside intermediates, previews and step figures),
only the retouched files are scored, whatever their format (PNG, TIFF or JPEG).

Images are read as stored (no linearization; 8-bit is /255 as in the original). A transparent image
is scored as shown on a mid-grey backdrop (its colour times its alpha, plus grey where it is see-through):
the colours a file keeps under fully transparent pixels, which a retouched result and its target need
not share, never count.
The final line printed is one JSON object. JSON has no infinity, so an infinite PSNR (every pair
identical) is written as null; a null paired metric with `"count": 0` means there were no pairs.
"""
import argparse
import json
import math
import os
import sys

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import cli
import image_io

# Spec 8.6: 4 square crops per image resized to 80x80, 4 random 64x64 patches from each.
CROPS_PER_IMAGE = 4
CROP_SIZE = 80
PATCHES_PER_CROP = 4
PATCH_SIZE = 64
HIST_BINS = 32
STATISTICS = ('luminance', 'contrast', 'saturation')
# evaluate.py's results, one per input in each of its --format choices
RETOUCHED_SUFFIXES = tuple(sorted({f'.retouched{ext}' for ext in image_io.OUTPUT_FORMATS.values()}))
BACKDROP = np.float32(0.5)     # what a transparent image is scored on: mid-grey, as a viewer shows it
SSIM_WINDOW = 7      # scikit-image's SSIM window: images smaller than this on a side have no SSIM


# ----------------------------------------------------------------------------------------------
# The distribution metric (spec 8.6)

def patch_statistics(img, rng):
    """One image -> (16, 3) float64 rows of (mean luminance, 2 * std of luminance, mean HLS saturation)."""
    crops = image_io.random_square_crops(img, CROPS_PER_IMAGE, CROP_SIZE, rng)
    rows = []
    for crop in crops:
        for _ in range(PATCHES_PER_CROP):
            y, x = rng.integers(0, CROP_SIZE - PATCH_SIZE, size=2)   # randrange(0, 16), as the original
            rows.append(image_io.image_statistics(crop[y:y + PATCH_SIZE, x:x + PATCH_SIZE]))
    return np.array(rows, np.float64)


def folder_statistics(images, seed=0):
    """Patch statistics of every image of an iterable, stacked: (16 * count, 3).

    Each folder gets its own generator seeded alike, so two identical folders draw identical patches
    and score exactly 100%: the sampling adds no noise to the comparison.
    """
    rng = np.random.default_rng(seed)
    stats = [patch_statistics(img, rng) for img in images]
    if not stats:
        raise ValueError("no readable images to compute histogram statistics from")
    return np.concatenate(stats)


def intersect(stats_a, stats_b):
    """Histogram intersection (%) of each statistic's 32-bin histogram on [0, 1], and their average."""
    n_a, n_b = len(stats_a), len(stats_b)
    out = {}
    for i, name in enumerate(STATISTICS):
        count_a = np.histogram(stats_a[:, i], bins=HIST_BINS, range=(0.0, 1.0))[0]
        count_b = np.histogram(stats_b[:, i], bins=HIST_BINS, range=(0.0, 1.0))[0]
        # sum min(count_a / n_a, count_b / n_b) in integers until one division, so equal histograms
        # give exactly 100
        out[name] = 100.0 * int(np.minimum(count_a * n_b, count_b * n_a).sum()) / (n_a * n_b)
    out['average'] = sum(out[name] for name in STATISTICS) / len(STATISTICS)
    return out


def histogram_intersection(output_images, target_images, seed=0):
    """The paper's metric between two iterables of float RGB images: dict of luminance, contrast,
    saturation and average intersections in %."""
    return intersect(folder_statistics(output_images, seed), folder_statistics(target_images, seed))


# ----------------------------------------------------------------------------------------------
# Paired metrics

def pair_metrics(output, target):
    """(PSNR dB, SSIM, mean CIEDE2000) of one output against its same-sized target; SSIM is None for
    images under SSIM_WINDOW pixels on a side (scikit-image refuses them)."""
    output = np.clip(output, 0.0, 1.0).astype(np.float32)
    target = np.clip(target, 0.0, 1.0).astype(np.float32)
    with np.errstate(divide='ignore'):   # identical images: PSNR is +inf, not a warning
        psnr = peak_signal_noise_ratio(target, output, data_range=1.0)
    ssim = (float(structural_similarity(target, output, channel_axis=-1, data_range=1.0))
            if min(target.shape[:2]) >= SSIM_WINDOW else None)
    # rgb2lab reads the values as sRGB: right for display-encoded outputs and targets.
    delta_e = deltaE_ciede2000(rgb2lab(target), rgb2lab(output)).mean()
    return float(psnr), ssim, float(delta_e)


def paired_metrics(pairs):
    """Mean PSNR, SSIM and CIEDE2000 over an iterable of (output, target) images of equal size.

    One identical pair makes the mean PSNR infinite. With no pairs the metrics are None. SSIM is the
    mean over the ssim_count pairs large enough to have one (None if none is).
    """
    rows = [pair_metrics(output, target) for output, target in pairs]
    ssims = [row[1] for row in rows if row[1] is not None]
    if not rows:
        return dict(psnr=None, ssim=None, ciede2000=None, count=0, ssim_count=0)
    return dict(psnr=float(np.mean([row[0] for row in rows])),
                ssim=float(np.mean(ssims)) if ssims else None,
                ciede2000=float(np.mean([row[2] for row in rows])), count=len(rows), ssim_count=len(ssims))


# ----------------------------------------------------------------------------------------------
# Folders and pairing

def name_key(path):
    """'dir/0612.jpg.retouched.png' -> '0612', 'frame.0001.jpg' -> 'frame.0001': the name without
    its image extensions and evaluate.py's '.retouched' (other dots are part of the name)."""
    name = os.path.basename(os.fspath(path))
    while True:
        stem, ext = os.path.splitext(name)
        if not stem or ext.lower() not in image_io.IMAGE_EXTENSIONS + ('.retouched',):
            return name
        name = stem


def read_name_list(path):
    """A list file (one name or path a line, '#' comments) -> the set of keys it names."""
    try:
        with open(path) as f:
            lines = [line.split('#')[0].strip() for line in f]
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file list ({e.strerror})") from None
    keys = {name_key(line) for line in lines if line}
    if not keys:
        raise ValueError(f"{path}: the file list names no files")
    return keys


def list_folder(folder, role, keys=None):
    """Supported images of a folder (hidden temporaries skipped), optionally only the given keys."""
    if not os.path.isdir(folder):
        problem = image_io.permission_problem(folder)       # not missing: a folder above is not searchable
        raise ValueError(f"{role} folder {folder}: {problem}" if problem else
                         f"{role} folder {folder} does not exist or is not a folder")
    paths = [p for p in image_io.list_images([folder]) if not os.path.basename(p).startswith('.')]
    if keys is not None:
        paths = [p for p in paths if name_key(p) in keys]
    if not paths:
        which = ' named in the file list' if keys is not None else ''
        raise ValueError(f"{role} folder {folder} holds no images{which} "
                         f"(supported: {' '.join(image_io.IMAGE_EXTENSIONS)})")
    return paths


def select_outputs(paths):
    """evaluate.py writes several images per input; only its final `*.retouched.<format>` are results."""
    retouched = [p for p in paths if p.endswith(RETOUCHED_SUFFIXES)]
    return retouched or paths


def pair_by_name(output_paths, target_paths):
    """-> ([(output, target)], unpaired outputs, unpaired targets). Shared keys are an error."""
    def by_key(paths, role):
        table = {}
        for p in paths:
            if name_key(p) in table:
                raise ValueError(f"two {role} files share the name {name_key(p)!r}: {table[name_key(p)]} "
                                 f"and {p}; pairing by name is ambiguous, keep one of them")
            table[name_key(p)] = p
        return table
    outputs, targets = by_key(output_paths, 'output'), by_key(target_paths, 'target')
    pairs = [(outputs[k], targets[k]) for k in sorted(outputs.keys() & targets.keys())]
    return (pairs, sorted(outputs[k] for k in outputs.keys() - targets.keys()),
            sorted(targets[k] for k in targets.keys() - outputs.keys()))


class _Reader:
    """Reads images, reporting and counting each unreadable file once instead of failing."""

    def __init__(self, log):
        self.log = log
        self.skipped = {}
        self.resized = 0

    def read(self, path):
        if path in self.skipped:
            return None
        try:
            samples, alpha = image_io.read_photo(path)
        except image_io.ImageError as e:
            self.skipped[path] = str(e)
            self.log(f"warning: skipped {e}")
            return None
        img = image_io.to_float(samples)
        if alpha is None:
            return img
        a = image_io.to_float(alpha)[..., None]
        return img * a + BACKDROP * (1 - a)

    def images(self, paths):
        return (img for img in map(self.read, paths) if img is not None)

    def pairs(self, pairs):
        for output_path, target_path in pairs:
            output, target = self.read(output_path), self.read(target_path)
            if output is None or target is None:
                continue
            if output.shape != target.shape:
                self.resized += 1
                self.log(f"note: {output_path} is {output.shape[1]}x{output.shape[0]}, its target "
                         f"{target.shape[1]}x{target.shape[0]}: output resized (INTER_AREA) for the "
                         "paired metrics")
                output = cv2.resize(output, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_AREA)
            if min(target.shape[:2]) < SSIM_WINDOW:
                self.log(f"note: {target_path} is {target.shape[1]}x{target.shape[0]}, smaller than SSIM's "
                         f"{SSIM_WINDOW}x{SSIM_WINDOW} window: no SSIM for this pair (PSNR and CIEDE2000 "
                         "are scored)")
            yield output, target


def score_folders(output_dir, target_dir, seed=0, keys=None, log=None):
    """All scores of an output folder against a target folder, as a JSON-ready dict (PSNR may be inf).

    keys: optional set of name keys (e.g. the held-out frames) restricting both folders.
    log: a function for warnings and notes (default: print to stderr).
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    listed = list_folder(output_dir, 'output', keys)
    outputs = select_outputs(listed)
    if len(outputs) < len(listed):
        log(f"note: scoring only the {len(outputs)} *.retouched files of {output_dir} "
            f"(evaluate.py's results), not its {len(listed) - len(outputs)} other images")
    targets = list_folder(target_dir, 'target', keys)
    pairs, unpaired_outputs, unpaired_targets = pair_by_name(outputs, targets)
    reader = _Reader(log)
    hist = histogram_intersection(reader.images(outputs), reader.images(targets), seed)
    paired = paired_metrics(reader.pairs(pairs))
    skipped_outputs = sum(p in reader.skipped for p in outputs)
    skipped_targets = sum(p in reader.skipped for p in targets)
    return {
        'outputs': os.fspath(output_dir), 'targets': os.fspath(target_dir), 'seed': seed,
        'histogram_intersection': hist,
        'paired_metrics': paired,
        'counts': {'outputs': len(outputs) - skipped_outputs, 'targets': len(targets) - skipped_targets,
                   'paired': paired['count'], 'unpaired_outputs': len(unpaired_outputs),
                   'unpaired_targets': len(unpaired_targets), 'resized': reader.resized,
                   'skipped': len(reader.skipped)},
        'skipped_files': sorted(reader.skipped.values()),
    }


# ----------------------------------------------------------------------------------------------
# Reporting

def to_json(result):
    """One JSON line; non-finite floats (an infinite PSNR) become null, since JSON has no infinity."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v
    return json.dumps(clean(result), allow_nan=False)


def format_number(value, digits=2):
    return '-' if value is None else f'{value:.{digits}f}'


def format_table(result):
    hist, paired, counts = result['histogram_intersection'], result['paired_metrics'], result['counts']
    return '\n'.join([
        f"outputs: {result['outputs']} ({counts['outputs']} images)",
        f"targets: {result['targets']} ({counts['targets']} images)",
        f"paired by name: {counts['paired']}, unpaired outputs: {counts['unpaired_outputs']}, "
        f"unpaired targets: {counts['unpaired_targets']}, resized: {counts['resized']}, "
        f"skipped: {counts['skipped']}, seed: {result['seed']}",
        '',
        'histogram intersection (%)  luminance  contrast  saturation  average',
        f"{'':26}  {hist['luminance']:9.2f}  {hist['contrast']:8.2f}  {hist['saturation']:10.2f}"
        f"  {hist['average']:7.2f}",
        '',
        f"paired ({paired['count']}):  PSNR {format_number(paired['psnr'])} dB  "
        f"SSIM {format_number(paired['ssim'], 4)}"
        + (f" (of {paired['ssim_count']})" if paired['ssim_count'] != paired['count'] else '')
        + f"  CIEDE2000 {format_number(paired['ciede2000'])}",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('output_dir', help='folder of outputs (e.g. evaluate.py results)')
    parser.add_argument('target_dir', help='folder of target images')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random patches (default 0)')
    parser.add_argument('--files-from', metavar='LIST',
                        help='score only the files this list names (one a line), in both folders')
    parser.add_argument('--json-only', action='store_true', help='print only the JSON line')
    args = parser.parse_args(argv)
    try:
        with cli.sigterm_as_ctrl_c():
            keys = read_name_list(args.files_from) if args.files_from else None
            result = score_folders(args.output_dir, args.target_dir, args.seed, keys)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    except KeyboardInterrupt as e:      # nothing is written before the end: nothing to keep or remove
        what = 'terminated (SIGTERM)' if isinstance(e, cli.Terminated) else 'interrupted'
        print(f"{what}: no scores (they are printed when every image has been read)", file=sys.stderr)
        return 143 if isinstance(e, cli.Terminated) else 130
    if not args.json_only:
        print(format_table(result))
    print(to_json(result))


if __name__ == '__main__':
    cli.safe_output()
    sys.exit(main())
