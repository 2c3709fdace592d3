"""Times every filter (the 8 of the configs, and Level) on a training-sized batch and on a 12 MP photo,
and the fused 5-step development evaluation uses, and checks that a 12 MP float32 image goes through each
filter without running out of memory.

    python bench/filter_speed.py [--repeats 3] [--width 4000 --height 3000]

Per filter: `process` on a 64x64x64 batch as a tf.function (as training runs it), and on one
4000x3000 float32 image as a tf.function (the plain path: one pass over memory per TensorFlow op) and
XLA-compiled (each filter fused into one pass). Then develop.Developer on a 16-bit 12 MP photo: 16-bit
samples in, 8-bit image out, scaling, x^1.8 linearization, 5 filters and quantization in one compiled
function, in chunks of 65,536 pixels. Each case runs in its own child process, whose peak resident
memory (ru_maxrss) is reported; `none` is the child's baseline (TensorFlow and the 12 MP image).
Figures are medians of --repeats timed runs after one warm-up run.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')   # for this process and the children
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/filter_speed.py` from anywhere

import numpy as np  # noqa: E402

import configurator  # noqa: E402

NAMES = ['E', 'G', 'W', 'S+', 'T', 'Ct', 'BW', 'C', 'Le']
SEQUENCES = {'typical (W E T S+ C)': ['W', 'E', 'T', 'S+', 'C'],
             'costliest (S+ G Ct S+ G)': ['S+', 'G', 'Ct', 'S+', 'G']}


def machine():
    model = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                  if line.startswith('model name')), platform.processor() or 'unknown CPU')
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def median_seconds(fn, repeats):
    fn()                                   # warm-up: tracing, compilation, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def filter_objects():
    import filters
    cfg = configurator.load_config('example')
    found = {f.short_name: f for f in filters.build_filters(cfg)}
    found['Le'] = filters.LevelFilter(cfg)
    return found


def user_params(f, rng):
    import tensorflow as tf
    return f.parameters(tf.constant(rng.normal(0, 1, (1, f.num_params)), tf.float32)).numpy()


def child(case, width, height, repeats):
    """One case in this process: -> dict of seconds (and the peak RSS, added by the parent)."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    found = filter_objects()
    if case in found:
        f = found[case]
        params = tf.constant(user_params(f, rng))
        batch = tf.constant(rng.uniform(0, 1, (64, 64, 64, 3)).astype(np.float32))
        big = tf.constant(rng.uniform(0, 1, (1, height, width, 3)).astype(np.float32))
        batch_params = tf.tile(params, [64, 1])
        graph = tf.function(f.process)
        xla = tf.function(f.process, jit_compile=True)
        return {'batch': median_seconds(lambda: graph(batch, batch_params).numpy(), repeats),
                'graph': median_seconds(lambda: graph(big, params).numpy(), repeats),
                'xla': median_seconds(lambda: xla(big, params).numpy(), repeats)}
    if case == 'none':
        big = tf.constant(rng.uniform(0, 1, (1, height, width, 3)).astype(np.float32))
        return {'graph': median_seconds(lambda: (big * 1.0).numpy(), repeats)}
    import develop
    import image_io
    path, label = case.split(':', 1)
    names = SEQUENCES[label]
    edits = [(list(found).index(n), user_params(found[n], rng)[0]) for n in names]
    samples = rng.integers(0, 65536, (height, width, 3), dtype=np.uint16)
    if path == 'fused':
        photo = develop.Photo('bench.tif', samples, 'prophoto')
        developer = develop.Developer(list(found.values()), 8, False)
        return {'seconds': median_seconds(lambda: developer(photo, edits), repeats)}
    graphs = {n: tf.function(found[n].process) for n in names}

    def plain():   # float copy in NumPy, x^1.8, one filter at a time, quantize
        img = tf.constant(image_io.linearize(image_io.to_float(samples), 'prophoto')[None])
        for (_, p), n in zip(edits, names):
            img = graphs[n](img, tf.constant(p[None]))
        return image_io.quantize(img.numpy()[0], 8)
    return {'seconds': median_seconds(plain, repeats)}


def run_child(case, args):
    argv = [sys.executable, os.path.abspath(__file__), '--child', case, '--width', str(args.width),
            '--height', str(args.height), '--repeats', str(args.repeats)]
    child_process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = child_process.stdout.read()
    err = child_process.stderr.read()
    _, status, usage = os.wait4(child_process.pid, 0)
    if status != 0:
        return {'error': (err.strip().splitlines() or ['killed (out of memory?)'])[-1], 'rss': usage.ru_maxrss / 1e6}
    return {**json.loads(out.strip().splitlines()[-1]), 'rss': usage.ru_maxrss / 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=3, help='timed runs per figure (median)')
    parser.add_argument('--width', type=int, default=4000)
    parser.add_argument('--height', type=int, default=3000)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import tensorflow as tf
        result = child(args.child, args.width, args.height, args.repeats)
        print(json.dumps({**result, 'versions': f"TensorFlow {tf.__version__}, NumPy {np.__version__}"}))
        return

    # TensorFlow is imported by the children only: a child's peak RSS counts the memory of the process
    # it was started from (Linux keeps the pre-exec peak), so this one stays small.
    mp = args.width * args.height / 1e6
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"machine: {machine()}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    baseline = run_child('none', args)
    print(f"{baseline.get('versions', '')}; intra-op threads: TensorFlow's default ({os.cpu_count()}); "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '(unset)')}")
    print(f"settings: float32, parameters from random pre-activations, batch 64x64x64x3, photo "
          f"{args.width}x{args.height} ({mp:g} MP), median of {args.repeats} after a warm-up, one child "
          f"process per row (peak RSS = that child's ru_maxrss)")
    print(f"\n{'filter':8s} {'64x64x64 ms':>12s} {f'{mp:g} MP graph s':>14s} {f'{mp:g} MP XLA s':>12s} "
          f"{'peak RSS GB':>12s}")
    for case in ['none'] + NAMES:
        r = baseline if case == 'none' else run_child(case, args)
        if 'error' in r:
            print(f"{case:8s} FAILED: {r['error']} (peak RSS {r['rss']:.2f} GB)")
        elif case == 'none':
            print(f"{'none':8s} {'':>12s} {r['graph']:14.3f} {'':>12s} {r['rss']:12.2f}   (x * 1: baseline)")
        else:
            print(f"{case:8s} {1000 * r['batch']:12.2f} {r['graph']:14.3f} {r['xla']:12.3f} {r['rss']:12.2f}")
    print(f"\nfull-resolution development of a 16-bit {mp:g} MP photo to 8 bits in 5 steps "
          "(fused: develop.Developer; plain: NumPy float copy, x^1.8, 5 tf.functions, quantize):")
    for label in SEQUENCES:
        for path in ('fused', 'plain'):
            r = run_child(f'{path}:{label}', args)
            result = (f"FAILED: {r['error']}" if 'error' in r else f"{r['seconds']:6.2f} s")
            print(f"  {path:5s} {label:34s} {result}; peak RSS {r['rss']:.2f} GB")


if __name__ == '__main__':
    main()
