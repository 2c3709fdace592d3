"""Validation for exposure correction: can a method fix wrong exposures and leave good photos alone?

    python bench/exposure_errors.py [CONFIG MODEL] [--photos DIR] [--out DIR] [--seeds 0 1 2 3 4] [--step N]
    python bench/exposure_errors.py photos pretrained          # the shipped photo model + baselines

Each held-out good photo (the config's validation split: `python data.py photos --list val`) is
rendered at -1.5, -1, 0, +1 and +1.5 EV: linear light x 2^EV, clipped as a sensor clips, back to
8-bit sRGB (data.render_exposure, the same rendering the training degradation uses). Every method
corrects all five renders, and per method the table reports, in dB (mean over photos):
  fix          PSNR of the corrections of the four wrong exposures against the original photo;
  keep         PSNR of the correction of the 0 EV render against the original (a good photo must be
               left nearly alone);
  consistency  mean PSNR between the five corrections of one photo (one photo, one look).
The model corrects the renders through evaluate.py (a subprocess: exactly what a user runs, with
--seed), once per seed of --seeds: a seed is one draw of the test-time dropout masks for every photo,
so each seed gets its own row, and their mean is reported too; --step N scores a training run's kept
actor or checkpoint of iteration N (evaluate.py --step) for a score curve; the baselines are
bench/baselines.py's, plus the model-free gain to a mean of 0.45.
The renders and corrections are kept in --out (default outputs/exposure_errors/) for inspection.
"""
import argparse
import glob
import itertools
import json
import os
import subprocess
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [PROJECT_DIR, os.path.join(PROJECT_DIR, 'bench')]   # runnable from anywhere

import numpy as np  # noqa: E402

import data  # noqa: E402
import image_io  # noqa: E402
import util  # noqa: E402
from baselines import BASELINES  # noqa: E402

EVS = (-1.5, -1.0, 0.0, 1.0, 1.5)


def psnr(a, b):
    """PSNR in dB of two images in [0, 1], capped at 100 dB (identical images) so means stay finite."""
    mse = float(np.mean(np.square(np.clip(a, 0, 1) - np.clip(b, 0, 1))))
    return 10.0 * np.log10(1.0 / max(mse, 1e-10))


def render_all(photos, folder):
    """Writes <stem>_ev<+x.x>.png for every photo and EV; returns {stem: original image}."""
    originals = {}
    for path in photos:
        stem = os.path.splitext(os.path.basename(path))[0]
        img = image_io.read_image(path)
        originals[stem] = img
        for ev in EVS:
            image_io.write_image(os.path.join(folder, f'{stem}_ev{ev:+.1f}.png'), data.render_exposure(img, ev))
    return originals


def model_corrections(config, model, renders, out, seed, step=None):
    """Runs evaluate.py on the render folder; returns {render name: corrected image}."""
    command = [sys.executable, os.path.join(PROJECT_DIR, 'evaluate.py'), config, model, renders,
               '--output-dir', out, '--no-intermediates', '--seed', str(seed)]
    command += ['--step', str(step)] if step is not None else []
    print('running:', ' '.join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    results = {}
    for path in glob.glob(os.path.join(out, '**', '*.retouched.png'), recursive=True):
        results[os.path.basename(path)[:-len('.png.retouched.png')]] = image_io.read_image(path)
    return results


def table_row(originals, corrected):
    """fix, keep, consistency (dB) over the photos; corrected[(stem, ev)] is a correction."""
    fix, keep, consistency = [], [], []
    for stem, original in originals.items():
        fix.append(np.mean([psnr(corrected[stem, ev], original) for ev in EVS if ev != 0]))
        keep.append(psnr(corrected[stem, 0.0], original))
        consistency.append(np.mean([psnr(corrected[stem, a], corrected[stem, b])
                                    for a, b in itertools.combinations(EVS, 2)]))
    return {'fix': float(np.mean(fix)), 'keep': float(np.mean(keep)),
            'consistency': float(np.mean(consistency))}


def gain_to_mean(img, mean=0.45):
    """One global gain in linear light (then clipped), found by bisection, that brings the photo's
    mean sRGB luminance to `mean`: a model-free automatic exposure."""
    linear = image_io.srgb_to_linear(img)
    weights = np.array(util.LUM_WEIGHTS, np.float32)
    low, high = -8.0, 8.0
    for _ in range(30):
        ev = (low + high) / 2
        if (image_io.linear_to_srgb(linear * np.float32(2 ** ev)) @ weights).mean() < mean:
            low = ev
        else:
            high = ev
    return image_io.linear_to_srgb(linear * np.float32(2 ** ((low + high) / 2)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('config', nargs='?', default='photos', help='config of the model and its split')
    parser.add_argument('model', nargs='?', help='model name under models/<config>/ (none: baselines only)')
    parser.add_argument('--photos', help='folder of good photos to use instead of the config\'s val split')
    parser.add_argument('--out', default=os.path.join('outputs', 'exposure_errors'), help='work folder')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='evaluate.py --seed values, one model run each (default: 0)')
    parser.add_argument('--step', type=int, help="a training run's iteration to score (default: the model as "
                                                 "evaluate.py loads it)")
    args = parser.parse_args(argv)

    cfg = util.load_config(args.config)
    try:
        photos = (image_io.list_images([args.photos]) if args.photos else data.folder_split(cfg, 'input', 'val'))
    except data.DataError as e:
        raise SystemExit(f"error: {e}")
    renders = os.path.join(args.out, 'renders')
    originals = render_all(photos, renders)
    methods = {name: fn for name, fn in BASELINES.items() if name != 'auto_exposure_gamma'}
    methods['gain_to_mean_0.45'] = gain_to_mean
    rows = {}
    for name, fn in methods.items():
        rows[name] = table_row(originals, {(stem, ev): fn(image_io.read_image(
            os.path.join(renders, f'{stem}_ev{ev:+.1f}.png'))) for stem in originals for ev in EVS})
    if args.model:
        runs = []
        step = '' if args.step is None else f'_step{args.step}'
        for seed in args.seeds:
            results = model_corrections(args.config, args.model, renders,
                                        os.path.join(args.out, f'{args.model}{step}_seed{seed}'), seed, args.step)
            runs.append(table_row(originals, {(stem, ev): results[f'{stem}_ev{ev:+.1f}']
                                              for stem in originals for ev in EVS}))
            rows[f'model {args.config}/{args.model}{step} seed {seed}'] = runs[-1]
        if len(runs) > 1:
            rows[f'model, mean of {len(runs)} seeds'] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    print(f"{len(originals)} photos ({args.photos or f'{args.config} validation split'}) at EV "
          f"{', '.join(f'{ev:+.1f}' for ev in EVS)}; PSNR in dB")
    print(f"{'method':36} {'fix':>6} {'keep':>6} {'consistency':>11}")
    for name, row in rows.items():
        print(f"{name:36} {row['fix']:6.2f} {row['keep']:6.2f} {row['consistency']:11.2f}")
    print(json.dumps({'photos': len(originals), 'evs': EVS, 'seeds': args.seeds, 'scores': rows}))


if __name__ == '__main__':
    main()
