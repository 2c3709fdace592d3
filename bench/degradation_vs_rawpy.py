"""How close is the training degradation to a real raw converter's exposure errors?

    python bench/degradation_vs_rawpy.py [--raw FILE ...] [--tiffs DIR] [--limit N]
    python bench/degradation_vs_rawpy.py      # ../shared/data's RAW and 50 linear FiveK TIFFs

The training data has only 8-bit sRGB photos, so the degradation (data.py) must guess what a camera
would have shown at another exposure from the 0 EV photo alone. Here that guess is compared with
renders that know the scene:
- RAW: LibRaw (rawpy) renders the RAW at -1.5..+1.5 EV with its own exposure shift (exp_shift, with
  exp_preserve_highlights=1: highlights rolled off when brightening); the degradations start from its
  8-bit 0 EV render.
- linear TIFF (scene light with highlights above display white, e.g. FiveK's linear exports):
  auto-exposed, then rendered at every EV through three camera curves (a hard clip, the validation
  curve, a strong shoulder: bench/camera_renders.py); the degradations start from the 8-bit 0 EV
  render of the same curve and assume the validation curve (data.VALIDATION_CURVE).
For each EV it prints the PSNR (dB, mean over images) of each degradation against the reference render
and the fraction of pixels with a clipped channel (255) in the reference and in each degradation:
'clip' is the old degradation (linear light x 2^EV, hard clip), 'camera' the new one.
"""
import argparse
import glob
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]
import numpy as np  # noqa: E402

import camera_renders  # noqa: E402
import data  # noqa: E402
from camera_renders import PROJECT_DIR  # noqa: E402
from exposure_errors import psnr  # noqa: E402

EVS = (-1.5, -1.0, 1.0, 1.5)
SHARED = os.path.join(PROJECT_DIR, '..', 'shared', 'data')
TRUTH_CURVES = {'hard clip': {'knee': 0.85, 'white': 1.0, 'toe': 0.0},
                'validation curve': data.VALIDATION_CURVE,
                'strong shoulder': {'knee': 0.4, 'white': 8.0, 'toe': 0.5}}


def clipped(img):
    return float(np.mean(np.any(img >= 1.0, axis=-1)))


def degradations(zero_ev, ev):
    return {'clip': data.render_exposure(zero_ev, ev),
            'camera': data.render_exposure(zero_ev, ev, data.VALIDATION_CURVE)}


def compare(cases):
    """cases: [(reference at EV, 0 EV render, EV)] -> {EV: {measure: mean}}."""
    rows = {}
    for ev in EVS:
        scores = []
        for truth, zero_ev, case_ev in cases:
            if case_ev != ev:
                continue
            found = degradations(zero_ev, ev)
            scores.append({'clipped reference': clipped(truth),
                           **{f'PSNR {k}': psnr(v, truth) for k, v in found.items()},
                           **{f'clipped {k}': clipped(v) for k, v in found.items()}})
        rows[ev] = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    return rows


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'EV':>5} {'PSNR clip':>10} {'PSNR camera':>12} {'clipped: reference':>19} {'clip':>7} {'camera':>7}")
    for ev, r in rows.items():
        print(f"{ev:+5.1f} {r['PSNR clip']:10.2f} {r['PSNR camera']:12.2f} {r['clipped reference']:19.2%} "
              f"{r['clipped clip']:7.2%} {r['clipped camera']:7.2%}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--raw', nargs='*', default=sorted(glob.glob(os.path.join(SHARED, 'raw', '*'))),
                        help='camera RAW files (default: ../shared/data/raw/*)')
    parser.add_argument('--tiffs', default=os.path.join(SHARED, 'fivek_linear'),
                        help='folder of 16-bit linear ProPhoto TIFFs (default: ../shared/data/fivek_linear)')
    parser.add_argument('--limit', type=int, help='use only the first N TIFFs')
    args = parser.parse_args(argv)

    if args.raw:
        cases = []
        for path in args.raw:
            zero_ev = camera_renders.rawpy_render(path, 0.0)
            cases += [(camera_renders.rawpy_render(path, ev), zero_ev, ev) for ev in EVS]
        print_table(f"RAW through LibRaw's exposure shift ({len(args.raw)} file(s): "
                    f"{', '.join(os.path.basename(p) for p in args.raw)})", compare(cases))
    tiffs = sorted(glob.glob(os.path.join(args.tiffs, '*.tif')))[:args.limit]
    if tiffs:
        scenes = [camera_renders.read_linear_tiff(p) for p in tiffs]
        for name, curve in TRUTH_CURVES.items():
            cases = []
            for linear in scenes:
                exposed = camera_renders.auto_exposure(linear)
                zero_ev = camera_renders.render(exposed, 0.0, curve)
                cases += [(camera_renders.render(exposed, ev, curve), zero_ev, ev) for ev in EVS]
            print_table(f"{len(tiffs)} linear TIFFs ({args.tiffs}), reference: {name} {curve}", compare(cases))
    if not args.raw and not tiffs:
        raise SystemExit("error: no RAW files and no TIFFs: give --raw FILE or --tiffs DIR")


if __name__ == '__main__':
    main()
