"""Validation for exposure correction: can a method fix wrong exposures and leave good photos alone?

    python bench/exposure_errors.py [CONFIG MODEL] [--sets clip camera scene] [--photos DIR] [--scenes DIR]
                                    [--out DIR] [--seeds 0 1 2 3 4] [--step N]
    python bench/exposure_errors.py photos pretrained --seeds 0 1 2     # the shipped photo model + baselines

Photos are rendered at -1.5, -1, 0, +1 and +1.5 EV, as exposure-correction benchmarks render a scene
from RAW, in up to three sets (--sets):
  clip    the held-out good photos (the config's validation split: `python data.py photos --list val`,
          or --photos DIR): linear light x 2^EV, clipped as a sensor with no headroom clips, 8-bit sRGB
          (data.render_exposure; the earlier training degradation);
  camera  the same photos taken back through the validation camera curve (data.VALIDATION_CURVE: a
          toe and a highlight shoulder) to scene light, scaled by 2^EV and rendered through it again;
  scene   scene-linear photos with their real highlights (--scenes DIR of 16-bit linear ProPhoto TIFFs,
          default ../shared/data/fivek_linear; none of them is a training photo), auto-exposed (log-average
          luminance to 0.18) and rendered at each EV through the validation camera curve (bench/camera_renders.py); their
          0 EV render is the reference. Skipped when the folder is absent.
Every method corrects all five renders of a photo, and per method the table reports, in dB (mean over
photos):
  -1.5 .. +1.5  PSNR of the correction of that wrong exposure against the reference (the photo at 0 EV);
  fix          the mean of those four bands;
  keep         PSNR of the correction of the 0 EV render against the reference (a good photo must be
               left nearly alone);
  consistency  mean PSNR between the five corrections of one photo (one photo, one look).
The model corrects the renders through evaluate.py (a subprocess: exactly what a user runs, with
--seed), once per seed of --seeds: a seed is one draw of the test-time dropout masks for every photo,
so each seed gets its own row, and their mean is reported too (--no-dropout: one run with the dropout
off, evaluate.py --no-dropout); --step N scores a training run's kept
actor or checkpoint of iteration N (evaluate.py --step) for a score curve. Beside it: the baselines of
bench/baselines.py, the model-free gain to a mean of 0.45, and three ceilings that see the reference (not
methods: what a global edit could reach): one gain and gamma per photo fitted to the reference, the
best global tone curve (one curve for all channels: the mean reference value of each input level), and
the agent's own filters (exposure, gamma, white balance, tone and colour curves) fitted by Adam to each
render's reference on the agent's 64x64 view and applied to the whole render (bench/fixed_edit.py's
fit): what the agent could reach if it predicted every parameter perfectly from what it sees.
The renders and corrections are kept in --out (default outputs/exposure_errors/<set>/) for inspection.
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

import camera_renders  # noqa: E402
import configurator  # noqa: E402
import data  # noqa: E402
import develop  # noqa: E402
import image_io  # noqa: E402
import util  # noqa: E402
from baselines import BASELINES  # noqa: E402

EVS = (-1.5, -1.0, 0.0, 1.0, 1.5)
SETS = ('clip', 'camera', 'scene')
SCENES = os.path.join(PROJECT_DIR, '..', 'shared', 'data', 'fivek_linear')


def psnr(a, b):
    """PSNR in dB of two images in [0, 1], capped at 100 dB (identical images) so means stay finite."""
    mse = float(np.mean(np.square(np.clip(a, 0, 1) - np.clip(b, 0, 1))))
    return 10.0 * np.log10(1.0 / max(mse, 1e-10))


def render_name(stem, ev):
    return f'{stem}_ev{ev:+.1f}'


def render_all(photos, folder, kind='clip'):
    """Writes <stem>_ev<+x.x>.png for every photo and EV; returns {stem: reference image}. kind 'clip'
    or 'camera' renders good photos (the reference: the photo itself), 'scene' linear TIFFs (the
    reference: the 0 EV render)."""
    originals = {}
    for path in photos:
        stem = os.path.splitext(os.path.basename(path))[0]
        if kind == 'scene':
            exposed = camera_renders.auto_exposure(camera_renders.read_linear_tiff(path))
            renders = {ev: camera_renders.render(exposed, ev, data.VALIDATION_CURVE) for ev in EVS}
            originals[stem] = renders[0.0]
        else:
            img = image_io.read_image(path)
            curve = data.VALIDATION_CURVE if kind == 'camera' else None
            renders = {ev: data.render_exposure(img, ev, curve) for ev in EVS}
            originals[stem] = img
        for ev, render in renders.items():
            image_io.write_image(os.path.join(folder, render_name(stem, ev) + '.png'), render)
    return originals


def model_corrections(config, model, renders, out, seed, step=None, no_dropout=False):
    """Runs evaluate.py on the render folder; returns {render name: corrected image}."""
    command = [sys.executable, os.path.join(PROJECT_DIR, 'evaluate.py'), config, model, renders,
               '--output-dir', out, '--no-intermediates', '--seed', str(seed)]
    command += ['--step', str(step)] if step is not None else []
    command += ['--no-dropout'] if no_dropout else []
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


def band_row(originals, corrected):
    """{'-1.5': dB, ...}: each wrong exposure's mean PSNR over the photos, then table_row's measures."""
    bands = {f'{ev:+.1f}': float(np.mean([psnr(corrected[stem, ev], original)
                                          for stem, original in originals.items()])) for ev in EVS if ev != 0}
    return {**bands, **table_row(originals, corrected)}


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


def gain_gamma_ceiling(img, reference):
    """The best clip(g x^gamma) for this photo, fitted to its reference: gamma on a log grid
    (1/4..4), then the least-squares gain for each gamma, scored with the clip."""
    x, y = img.reshape(-1), reference.reshape(-1)
    best = (np.inf, img)
    for gamma in np.exp(np.linspace(np.log(0.25), np.log(4.0), 97)):
        p = x ** np.float32(gamma)
        gain = float(p @ y) / max(float(p @ p), 1e-12)
        out = np.clip(gain * p, 0, 1)
        best = min(best, (float(np.mean(np.square(out - y))), out), key=lambda t: t[0])
    return best[1].reshape(img.shape).astype(np.float32)


def tone_curve_ceiling(img, reference):
    """The best global tone curve for this photo, one for all channels: each 8-bit input level goes to
    the mean reference value at that level (levels the photo lacks are interpolated)."""
    levels = np.round(img * 255).astype(np.int64).reshape(-1)
    counts = np.bincount(levels, minlength=256)
    sums = np.bincount(levels, weights=reference.reshape(-1), minlength=256)
    seen = counts > 0
    curve = np.interp(np.arange(256), np.flatnonzero(seen), sums[seen] / counts[seen])
    return curve[levels].reshape(img.shape).astype(np.float32)


CEILINGS = {'ceiling: gain + gamma fitted to the reference': gain_gamma_ceiling,
            'ceiling: best global tone curve': tone_curve_ceiling}
FILTERS_CEILING = "ceiling: the agent's filters fitted per photo"
# Adam steps of the filters' fit (all renders in each). Its error still falls slowly there (by a third from
# step 200 to 400 on the camera set), so this ceiling is a little below what the filters can reach.
FILTERS_CEILING_STEPS = 400


def filters_ceiling(cfg, read, originals):
    """The agent's own filters (fixed_edit.CHAIN: exposure, gamma, white balance, tone and colour
    curves) fitted to each render's reference on the 64x64 views the agent sees (develop.low_res_view),
    all renders at once, then applied to the whole render: what the agent's edit reaches if it predicts
    every parameter perfectly from its view. {key: corrected image} for read's keys."""
    import tensorflow as tf
    import fixed_edit

    def view(img):
        return develop.low_res_view(develop.Photo('', img, 'display'))
    keys = list(read)
    patches = np.stack([np.concatenate([view(read[k]), view(originals[k[0]])], -1) for k in keys])
    chain, raw, _ = fixed_edit.fit(cfg, patches.astype(np.float32), FILTERS_CEILING_STEPS, per_frame=True)
    return {k: np.clip(fixed_edit.apply(chain, [r[i:i + 1] for r in raw], tf.constant(read[k][None]))[0].numpy(), 0, 1)
            for i, k in enumerate(keys)}


def score_set(kind, photos, out, args):
    """The rows of one set: {method: band_row}."""
    renders = os.path.join(out, 'renders')
    originals = render_all(photos, renders, kind)
    read = {(stem, ev): image_io.read_image(os.path.join(renders, render_name(stem, ev) + '.png'))
            for stem in originals for ev in EVS}
    methods = {name: fn for name, fn in BASELINES.items() if name != 'auto_exposure_gamma'}
    methods['gain_to_mean_0.45'] = gain_to_mean
    rows = {name: band_row(originals, {key: fn(img) for key, img in read.items()}) for name, fn in methods.items()}
    for name, fn in CEILINGS.items():
        rows[name] = band_row(originals, {key: fn(img, originals[key[0]]) for key, img in read.items()})
    rows[FILTERS_CEILING] = band_row(originals, filters_ceiling(configurator.load_config(args.config), read, originals))
    if args.model:
        runs = []
        step = '' if args.step is None else f'_step{args.step}'
        for seed in [0] if args.no_dropout else args.seeds:
            run = f'{step}_no_dropout' if args.no_dropout else f'{step}_seed{seed}'
            results = model_corrections(args.config, args.model, renders, os.path.join(out, args.model + run),
                                        seed, args.step, args.no_dropout)
            runs.append(band_row(originals, {(stem, ev): results[render_name(stem, ev)]
                                             for stem in originals for ev in EVS}))
            label = 'no dropout' if args.no_dropout else f'seed {seed}'
            rows[f'model {args.config}/{args.model}{step} {label}'] = runs[-1]
        if len(runs) > 1:
            rows[f'model, mean of {len(runs)} seeds'] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return len(originals), rows


def print_table(title, rows):
    columns = [f'{ev:+.1f}' for ev in EVS if ev != 0] + ['fix', 'keep', 'consistency']
    print(f"\n{title}; PSNR in dB")
    print(f"{'method':48} " + ' '.join(f'{c:>6}' for c in columns[:-1]) + f" {columns[-1]:>11}")
    for name, row in rows.items():
        print(f"{name:48} " + ' '.join(f'{row[c]:6.2f}' for c in columns[:-1]) + f" {row[columns[-1]]:11.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('config', nargs='?', default='photos', help='config of the model and its split')
    parser.add_argument('model', nargs='?', help='model name under models/<config>/ (none: baselines only)')
    parser.add_argument('--sets', nargs='+', choices=SETS, default=list(SETS), help='which renders (default: all)')
    parser.add_argument('--photos', help="folder of good photos to use instead of the config's val split")
    parser.add_argument('--scenes', default=SCENES, help='folder of linear 16-bit TIFFs for the scene set '
                                                         '(default: ../shared/data/fivek_linear)')
    parser.add_argument('--out', default=os.path.join('outputs', 'exposure_errors'), help='work folder')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='evaluate.py --seed values, one model run each (default: 0)')
    parser.add_argument('--no-dropout', action='store_true',
                        help='score the model with evaluate.py --no-dropout (one deterministic run; --seeds ignored)')
    parser.add_argument('--step', type=int, help="a training run's iteration to score (default: the model as "
                                                 "evaluate.py loads it)")
    args = parser.parse_args(argv)

    cfg = configurator.load_config(args.config)
    results = {}
    for kind in args.sets:
        if kind == 'scene':
            photos = sorted(glob.glob(os.path.join(args.scenes, '*.tif')))
            if not photos:
                print(f"scene set skipped: no linear TIFFs in {args.scenes}", file=sys.stderr)
                continue
            where = args.scenes
        else:
            try:
                photos = (image_io.list_images([args.photos]) if args.photos
                          else data.folder_split(cfg, 'input', 'val'))
            except data.DataError as e:
                raise SystemExit(f"error: {e}")
            where = args.photos or f'{args.config} validation split'
        count, rows = score_set(kind, photos, os.path.join(args.out, kind), args)
        print_table(f"{kind}: {count} photos ({where}) at EV {', '.join(f'{ev:+.1f}' for ev in EVS)}", rows)
        results[kind] = {'photos': count, 'scores': rows}
    print(json.dumps({'evs': EVS, 'seeds': args.seeds, 'sets': results}))


if __name__ == '__main__':
    main()
