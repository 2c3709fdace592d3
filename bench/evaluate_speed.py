"""Times evaluate.py end to end as a user runs it: many small photos, then one 12 MP and one 24 MP photo.

    python bench/evaluate_speed.py [--count 100] [--model CONFIG/NAME] [--no-big] [--intermediates] [--lut]

Inputs are made here, in a temporary folder: --count 500x333 16-bit TIFFs cut from the photos bundled
with scikit-image (random crops, flips and exposures, with sensor-like noise), and one 4000x3000 and one
6000x4000 16-bit TIFF. The model is a freshly initialised GAN of the `example` config saved as an actor
checkpoint (its edits are as costly as a trained model's: every edit is one of the 8 filters), or an
existing models/CONFIG/NAME. Each case runs `python evaluate.py ... --no-intermediates` (with --lut:
also a 33^3 .cube per photo) in a child process; the figures are the child's wall time (start-up
included), the time evaluate.py reports for its work (reading to writing), and the child's peak
resident memory.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')   # for this process and the evaluate.py children
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/evaluate_speed.py` from anywhere

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tifffile  # noqa: E402

import configurator  # noqa: E402

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket')   # bundled with scikit-image: no download
SMALL = (500, 333)
BIG = {'12 MP': (4000, 3000), '24 MP': (6000, 4000)}
# A recipe of the costliest filters (bench/filter_speed.py), in user units: saturation, gamma, contrast.
COSTLIEST = {'input_encoding': 'prophoto', 'steps': [
    {'class': c, 'filter': c, 'parameters': p} for c, p in [
        ('SaturationPlusFilter', [0.8]), ('GammaFilter', [0.7]), ('ContrastFilter', [0.5]),
        ('SaturationPlusFilter', [0.6]), ('GammaFilter', [1.2])]]}


def machine():
    model = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                  if line.startswith('model name')), platform.processor() or 'unknown CPU')
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def photos():
    import skimage.data
    return [getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255 for name in PHOTOS]


def as_tiff16(display, rng):
    """A display-encoded photo -> a ProPhoto-like 16-bit TIFF: linear light at a random exposure, plus
    shot-like noise, stored with gamma 1/1.8 (what evaluate.py linearizes with x^1.8)."""
    linear = np.clip(display, 0, 1) ** 2.2 * np.float32(2.0 ** rng.uniform(-1.5, 0.5))
    linear += rng.standard_normal(linear.shape, dtype=np.float32) * np.float32(0.002)
    return np.rint(np.clip(linear, 0, 1) ** np.float32(1 / 1.8) * 65535).astype(np.uint16)


def small_photo(sources, rng):
    src = sources[rng.integers(len(sources))]
    h, w = src.shape[:2]
    scale = rng.uniform(0.6, 1.0)
    ch = int(min(h, w * SMALL[1] / SMALL[0]) * scale)
    cw = int(ch * SMALL[0] / SMALL[1])
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = cv2.resize(src[y:y + ch, x:x + cw], SMALL, interpolation=cv2.INTER_AREA)
    return as_tiff16(crop[:, ::-1] if rng.random() < 0.5 else crop, rng)


def make_inputs(folder, count, big):
    rng = np.random.default_rng(0)
    sources = photos()
    small_dir = os.path.join(folder, 'small')
    os.makedirs(small_dir)
    for i in range(count):
        tifffile.imwrite(os.path.join(small_dir, f'{i:05d}.tif'), small_photo(sources, rng), photometric='rgb')
    big_paths = {}
    rng = np.random.default_rng(1)      # the same big photos whatever --count
    for label, size in BIG.items() if big else ():
        path = os.path.join(folder, f"big_{label.replace(' ', '')}.tif")
        tifffile.imwrite(path, as_tiff16(cv2.resize(sources[0], size, interpolation=cv2.INTER_CUBIC), rng),
                         photometric='rgb')
        big_paths[label] = path
    return small_dir, big_paths


def make_model(folder, model):
    """-> (config, name) usable from `folder` as the working directory."""
    if model:
        config, name = model.split('/')
        source = os.path.join(PROJECT_DIR, 'models', config, name)
        if not os.path.isdir(source):
            raise SystemExit(f"error: no model at {source}")
        return config, name     # evaluate.py finds it in the project's models/ from any working folder
    import net
    gan = net.GAN(configurator.load_config('example', ['--seed=0']))
    gan.save_actor(os.path.join(folder, 'models', 'example', 'fresh', 'actor'))
    return 'example', 'fresh'


def run_case(folder, source, images, intermediates, lut):
    """Runs evaluate.py on images with source = [config, model name] or ['--recipe', file] in a child
    process. -> (wall s, evaluate's own s, peak RSS GB, images done,
    [{'edits', 'seconds'} per image report line])."""
    out = os.path.join(folder, 'out')
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, os.path.join(PROJECT_DIR, 'evaluate.py'), *source, *images, '--output-dir', out,
            '--seed', '0', *([] if intermediates else ['--no-intermediates']), *(['--lut'] if lut else [])]
    log = os.path.join(folder, 'log.txt')
    start = time.perf_counter()
    with open(log, 'w') as f:
        child = subprocess.Popen(argv, cwd=folder, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    text = open(log).read()
    m = re.search(r'(\d+) of (\d+) images retouched in ([\d.]+) s', text)
    if status != 0 or not m:
        raise SystemExit(f"error: evaluate.py failed (status {status}):\n{text[-3000:]}")
    lines = [{'edits': e, 'seconds': float(t)}
             for e, t in re.findall(r'^\[\d+/\d+\] (.*) \(([\d.]+) s\)$', text, re.M)]
    return wall, float(m.group(3)), usage.ru_maxrss / 1e6, int(m.group(1)), lines


def prepare(folder, count, big, model):
    """In a child process, so that the parent stays small: a child's peak RSS counts the memory of the
    process it was started from (Linux keeps the pre-exec peak), which would otherwise be this one's."""
    import tensorflow as tf
    start = time.perf_counter()
    small_dir, big_paths = make_inputs(folder, count, big)
    model = make_model(folder, model)
    recipe = os.path.join(folder, 'costliest.steps.json')
    with open(recipe, 'w') as f:
        json.dump(COSTLIEST, f)
    print(json.dumps({'small': small_dir, 'big': big_paths, 'model': model, 'recipe': recipe,
                      'seconds': time.perf_counter() - start,
                      'versions': f"TensorFlow {tf.__version__}, NumPy {np.__version__}, OpenCV {cv2.__version__}"}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--count', type=int, default=100, help='number of 500x333 photos (default 100)')
    parser.add_argument('--model', help='an existing models/CONFIG/NAME instead of a fresh one')
    parser.add_argument('--no-big', action='store_true', help='skip the 12 MP and 24 MP photos')
    parser.add_argument('--intermediates', action='store_true',
                        help='write every output (the default of evaluate.py), not --no-intermediates')
    parser.add_argument('--lut', action='store_true', help='also write each photo\'s 3D LUT (evaluate.py --lut)')
    parser.add_argument('--prepare', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        return prepare(args.prepare, args.count, not args.no_big, args.model)

    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    folder = tempfile.mkdtemp(prefix='bench_evaluate_speed_')
    try:
        argv = [sys.executable, os.path.abspath(__file__), '--prepare', folder, '--count', str(args.count)]
        argv += (['--no-big'] if args.no_big else []) + (['--model', args.model] if args.model else [])
        made = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        model = made['model']
        print(f"machine: {machine()}; {made['versions']}; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
        print(f"settings: model {'/'.join(model)}{' (freshly initialised)' if not args.model else ''}, "
              f"16-bit TIFF in, 8-bit PNG out, {'all outputs' if args.intermediates else '--no-intermediates'}"
              f"{', --lut' if args.lut else ''}, "
              f"--seed 0; inputs made in {made['seconds']:.1f} s in {folder}")
        print("figures: wall = the whole child process (Python and TensorFlow start-up included); work = the time "
              "evaluate.py reports (model loading, then reading the first image to writing the last); "
              "peak RSS = the child's ru_maxrss")
        wall, work, rss, done, _ = run_case(folder, model, [made['small']], args.intermediates, args.lut)
        print(f"{done} photos of {SMALL[0]}x{SMALL[1]}: wall {wall:.1f} s, work {work:.1f} s = "
              f"{1000 * work / done:.1f} ms per image, {done / work:.1f} images/s; peak RSS {rss:.2f} GB")
        for label, path in made['big'].items():
            wall, work, rss, _, lines = run_case(folder, model, [path], args.intermediates, args.lut)
            print(f"one {label} photo ({'x'.join(map(str, BIG[label]))}): wall {wall:.1f} s, work {work:.1f} s "
                  f"(developing and writing it: {lines[0]['seconds']:.2f} s); peak RSS {rss:.2f} GB; "
                  f"[{lines[0]['edits'].split(': ', 1)[-1].split('  -> ')[0]}]")
        if made['big']:
            path = made['big']['24 MP']
            wall, work, rss, _, lines = run_case(folder, ['--recipe', made['recipe']], [path], args.intermediates,
                                                 args.lut)
            print(f"one 24 MP photo, recipe of the costliest filters (S+ > G > Ct > S+ > G, no agent): wall "
                  f"{wall:.1f} s, work {work:.1f} s; peak RSS {rss:.2f} GB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()
