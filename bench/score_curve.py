"""Held-out scores of a training run along its schedule: the score curve of a model card.

    python bench/score_curve.py CONFIG MODEL [--steps N ...] [--seeds 0 1 2 3 4] [--split val|train]
                                [--out DIR] [--key=value ...]
    python bench/score_curve.py sintel full --input_dir=../shared/data/sintel/inputs \
        --target_dir=../shared/data/sintel/outputs

For each step (default: every actor the run kept, models/<config>/<model>/actors/actor-N, see
`actor_snapshot_interval`, and its newest checkpoint) and each seed, evaluate.py retouches the
config's held-out inputs (`python data.py CONFIG --list val`) with `--step N --seed S
--no-intermediates`, exactly as a user would, and score.py scores them against the targets of the
same names. The table has one row per step: the mean over the seeds of PSNR and of the average
histogram intersection, with their spread (min-max) over the seeds. Results are kept in --out
(default outputs/score_curve/<config>-<model>/step-N/seed-S): a step already scored is not redone,
so the command can be run again as a long run goes on.
--split train scores the training inputs instead (by default into ...-<model>-train): a model that
scores as low on the frames it learned from as on the held-out ones is limited by what it learned,
not by how it generalizes.
"""
import argparse
import json
import os
import subprocess
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/score_curve.py` from anywhere

import numpy as np  # noqa: E402

import atomic  # noqa: E402
import configurator  # noqa: E402
import data  # noqa: E402
import model_folder  # noqa: E402
import net  # noqa: E402
import score  # noqa: E402


def run_steps(model_dir):
    """The steps a run can be scored at: its kept actors and its newest checkpoint."""
    kept = net.checkpoint_steps(os.path.join(model_dir, 'actors'))
    full = net.checkpoint_steps(model_dir)
    return sorted(set(kept) | ({max(full)} if full else set()))


def scored(config, model, step, seed, inputs, target_dir, out):
    """score.py's result for one step and seed (from out/result.json when already scored)."""
    result_file = os.path.join(out, 'result.json')
    if os.path.exists(result_file):
        with open(result_file) as f:
            return json.load(f)
    command = [sys.executable, os.path.join(PROJECT_DIR, 'evaluate.py'), config, model, *inputs,
               '--output-dir', os.path.join(out, 'images'), '--no-intermediates', '--seed', str(seed),
               '--step', str(step)]
    print(f"step {step}, seed {seed}: evaluate.py on {len(inputs)} inputs", file=sys.stderr, flush=True)
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode:
        raise SystemExit(f"error: evaluate.py failed at step {step} with seed {seed} (its messages are above)")
    keys = {score.name_key(p) for p in inputs}
    result = score.score_folders(os.path.join(out, 'images'), target_dir, keys=keys)
    atomic.write_json(result_file, json.loads(score.to_json(result)))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('model', help='a training run under models/<config>/ (with actors/ kept)')
    parser.add_argument('--steps', type=int, nargs='+', help='steps to score (default: all kept)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4],
                        help='evaluate.py --seed values (default 0 1 2 3 4)')
    parser.add_argument('--split', choices=['val', 'train'], default='val',
                        help="the config's held-out inputs (default) or its training inputs")
    parser.add_argument('--out', help='results folder (default outputs/score_curve/<config>-<model>, '
                                      'with -train for --split train)')
    args, overrides = parser.parse_known_args(argv)
    cfg = configurator.load_config(args.config, overrides)
    try:
        model_dir = model_folder.find_model(args.config, args.model)
        inputs = data.folder_split(cfg, 'input', args.split)
    except (model_folder.ModelError, data.DataError) as e:
        raise SystemExit(f"error: {e}")
    target_dir = cfg.target_dir
    steps = args.steps or run_steps(model_dir)
    if not steps:
        raise SystemExit(f"error: {model_dir} holds no checkpoint or kept actor to score")
    out = args.out or os.path.join('outputs', 'score_curve', f'{args.config}-{args.model}'
                                   + ('-train' if args.split == 'train' else ''))
    rows = []
    for step in steps:
        results = [scored(args.config, args.model, step, seed, inputs, target_dir,
                          os.path.join(out, f'step-{step}', f'seed-{seed}')) for seed in args.seeds]
        psnr = [r['paired_metrics']['psnr'] for r in results]
        hist = [r['histogram_intersection']['average'] for r in results]
        rows.append((step, np.mean(psnr), min(psnr), max(psnr), np.mean(hist), min(hist), max(hist)))
    split = 'held-out' if args.split == 'val' else 'training'
    print(f"{args.config}/{args.model}: {len(inputs)} {split} inputs, seeds {' '.join(map(str, args.seeds))}")
    print('| step | PSNR dB (mean) | PSNR min-max | avg hist. intersection % (mean) | min-max |')
    print('|---|---|---|---|---|')
    for step, p, p0, p1, h, h0, h1 in rows:
        print(f'| {step} | {p:.2f} | {p0:.2f}-{p1:.2f} | {h:.2f} | {h0:.2f}-{h1:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
