"""Times the training updates on random inputs: ms per generator update, per critic update and per full
iteration (1 generator + citers critic updates), after warm-up, and what a whole training run would take.

    python bench/train_step.py [--batch-size 64] [--precision both|float32|bfloat16] [--iterations 10]
                               [--threads N] [--profile] [--convs] [--compare-gradients]

Times both numeric paths in one run by default (the float32 and bfloat16 figures are then comparable),
says which one mixed_precision='auto' picks here, and times the paired reward's iteration (one
generator update, no critic) next to the critic reward's. No data needed. The replay memory and logging of train.py are not included (they are host-side work).
--profile also traces one iteration with TensorFlow's profiler and prints where its time goes: total
time per op type (summed over TensorFlow's compute threads, so it can exceed the wall time when ops
overlap), with the calls that only wrap other ops (while loops, function calls) left out.
The compute limit is measured in the same process (a large matrix product), since this shared machine's
speed varies between sessions. The convolution gradients are tuned first, as train.py does (the
faster of TensorFlow's kernel and layers.conv's forward form at each shape: its log line is printed);
--convs times each convolution shape of the networks alone both ways, and --compare-gradients times the
whole iteration with all of TensorFlow's, all in the forward form, and tuned, alternating in one process.
"""
import argparse
import collections
import glob
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import configurator  # noqa: E402
import layers  # noqa: E402
import net  # noqa: E402
import util  # noqa: E402
from state import STEP  # noqa: E402


WRAPPERS = {'While', 'StatefulPartitionedCall', 'PartitionedCall', 'If', 'StatelessIf', 'StatelessWhile'}


def profile(fn, top=25):
    """Trace fn() once with tf.profiler; print milliseconds per op type, largest first."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    logdir = os.path.join('/tmp', f'train_step_profile_{os.getpid()}')
    start = time.perf_counter()
    tf.profiler.experimental.start(logdir)
    fn()
    tf.profiler.experimental.stop()
    wall_ms = 1000 * (time.perf_counter() - start)
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True))[-1], 'rb') as f:
        space.ParseFromString(f.read())
    per_type = collections.Counter()
    convs = []    # (start, end) in ps of every convolution kernel
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith('tf_Compute'):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # TensorFlow ops are named 'scope/name:Type'; 'Class::method' events are the executor's.
                op_type = name.rpartition(':')[2] if ':' in name and '::' not in name else None
                if op_type and op_type not in WRAPPERS:
                    per_type[op_type] += event.duration_ps / 1e9
                    if 'Conv2D' in op_type:
                        start_ps = line.timestamp_ns * 1000 + event.offset_ps
                        convs.append((start_ps, start_ps + event.duration_ps))
    total = sum(per_type.values())
    print(f"profile of one iteration: {wall_ms:.0f} ms wall under the profiler, {total:.0f} ms of op time "
          f"over {len(per_type)} op types (trace in {logdir})")
    for op_type, ms in per_type.most_common(top):
        print(f"  {op_type:32s} {ms:8.1f} ms  {100 * ms / total:5.1f}%")
    rest = total - sum(ms for _, ms in per_type.most_common(top))
    print(f"  {'(other op types)':32s} {rest:8.1f} ms  {100 * rest / total:5.1f}%")
    # Each kernel uses every core (oneDNN's thread pool), so the wall time during which at least one
    # convolution runs is the iteration's time in convolutions, overlaps counted once.
    busy_ps, end_ps = 0, 0
    for start, end in sorted(convs):
        busy_ps += max(0, end - max(start, end_ps))
        end_ps = max(end_ps, end)
    print(f"convolution kernels ran during {busy_ps / 1e9:.0f} ms of the {wall_ms:.0f} ms "
          f"({100 * busy_ps / 1e9 / wall_ms:.0f}%); the rest is every other op and the executor")


def matmul_peak(dtype, n=2048, repeats=20):
    """GFLOPS of TensorFlow's n x n matrix product here: the compute limit the iteration is held against."""
    a = tf.cast(tf.random.uniform([n, n]), dtype)
    product = tf.function(lambda: tf.matmul(a, a))
    product(), product()
    start = time.perf_counter()
    for _ in range(repeats):
        result = product()
    result.numpy()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def conv_kernels(cfg, dtype, batch, repeats=20):
    """Time each convolution shape of the networks alone: the forward pass, and the input and filter
    gradients both with TensorFlow's gradient kernels and in layers.conv's forward form, against the
    matrix-product limit. The first layer convolves the RGB image only (the constant planes' response
    is computed apart: layers.Conv)."""
    print(f"convolution kernels alone, {dtype.name}, batch {batch} (4x4, stride 2), GFLOPS "
          f"(TensorFlow's gradient kernel / the forward form):")
    for height, width, c_in, c_out in layers.tower_shapes(cfg.source_img_size, cfg.base_channels):
        x = tf.cast(tf.random.uniform([batch, height, width, c_in]), dtype)
        w = tf.cast(tf.random.uniform([4, 4, c_in, c_out]), dtype)
        dy = tf.cast(tf.random.uniform([batch, height // 2, width // 2, c_out]), dtype)
        flop = 2 * batch * (height // 2) * (width // 2) * 16 * c_in * c_out
        passes = {'forward': lambda: tf.nn.conv2d(x, w, 2, 'SAME'), **layers.gradient_passes(x, w, dy)}
        gflops = {}
        for key, fn in passes.items():
            fn = tf.function(fn, autograph=False)
            gflops[key] = flop / layers.median_ms(lambda: fn().numpy(), repeats) / 1e6
        g = lambda gradient: f"{gflops[gradient, 'tensorflow']:4.0f} / {gflops[gradient, 'forward']:4.0f}"
        print(f"  {c_in:3d} -> {c_out:3d} channels at {height:2d}x{width:<2d}: forward {gflops['forward']:4.0f}, "
              f"input gradient {g('input')}, filter gradient {g('filter')}")


def updates(cfg, gan, b):
    """(generator update, citers critic updates) of gan as functions on fixed random inputs, each
    blocking until its result is ready. With the paired reward the generator scores against targets."""
    size, k = cfg.source_img_size, cfg.citers
    rng = np.random.default_rng(0)
    images = rng.random((b, size, size, 3), dtype=np.float32) * 0.6
    targets = rng.random((b, size, size, 3), dtype=np.float32) if cfg.reward == 'paired' else None
    states = np.zeros((b, cfg.num_state_dim), np.float32)
    states[:, STEP] = rng.integers(0, cfg.test_steps, b)
    noise = rng.random((b, cfg.z_dim), dtype=np.float32)
    fake = rng.random((k, b, size, size, 3), dtype=np.float32)
    real = rng.random((k, b, size, size, 3), dtype=np.float32)
    lr_g, lr_v, lr_c = net.learning_rates(cfg, 1)

    def generator():
        gan.actor_step(images, states, noise, lr_g, lr_v, 0.5, targets)['g_loss'].numpy()

    def critic_updates():
        gan.critic_steps(fake, real, lr_c)['c_loss'].numpy()
    return generator, critic_updates


def compare_gradients(args, precision, rounds):
    """The critic-reward iteration with every convolution gradient from TensorFlow's kernels, every one
    in layers.conv's forward form, and each the faster of the two as layers.tune_gradients picked them
    (what train.py does), alternating round by round in one process since this host's speed drifts by
    more than the differences within minutes."""
    cfg = configurator.load_config(args.config, [f'--mixed_precision={precision == "bfloat16"}', '--seed=0'])
    iterations = {}
    for way in ('tensorflow', 'forward', 'tuned'):
        if way == 'tuned':                # read when the update functions are traced, on their first call
            os.environ.pop('EXPOSURE_CONV_GRADIENTS', None)
            layers.tune_gradients(layers.tower_shapes(cfg.source_img_size, cfg.base_channels), args.batch_size,
                                  util.compute_dtype(cfg.mixed_precision))
        else:
            os.environ['EXPOSURE_CONV_GRADIENTS'] = way
        generator, critic_updates = updates(cfg, net.GAN(cfg), args.batch_size)
        iterations[way] = lambda g=generator, c=critic_updates: (g(), c())
        iterations[way]()
    times = {way: [] for way in iterations}
    for _ in range(rounds):
        for way, fn in iterations.items():
            times[way].append(layers.median_ms(fn, 1))
    print(f"\n== convolution gradients, {precision}, critic-reward iteration, median of {rounds} alternating rounds")
    base = np.median(times['tensorflow'])
    for way, ms in times.items():
        print(f"{way:10s} {np.median(ms):8.1f} ms  ({np.median(ms) / base:.2f}x the time with TensorFlow's)")


def measure(args, precision):
    """Times one precision path: generator, critic and whole iterations with the critic reward, and
    the paired reward's iteration (one generator update, no critic). Returns the iteration's ms."""
    mixed = precision == 'bfloat16'
    dtype = tf.bfloat16 if mixed else tf.float32
    overrides = [f'--mixed_precision={mixed}', '--seed=0']
    cfg = configurator.load_config(args.config, overrides)
    k = cfg.citers
    print(f"\n{layers.tune_gradients(layers.tower_shapes(cfg.source_img_size, cfg.base_channels), args.batch_size, dtype)}")
    generator, critic_updates = updates(cfg, net.GAN(cfg), args.batch_size)
    paired_cfg = configurator.load_config(args.config, overrides + ['--reward=paired'])
    paired_generator, _ = updates(paired_cfg, net.GAN(paired_cfg), args.batch_size)

    def iteration():
        generator()
        critic_updates()

    start = time.perf_counter()
    for fn in (generator, critic_updates, iteration, paired_generator):   # trace once, warm caches and pools
        fn()
        fn()
    warmup = time.perf_counter() - start
    g_ms = layers.median_ms(generator, args.iterations)
    c_ms = layers.median_ms(critic_updates, args.iterations) / k
    it_ms = layers.median_ms(iteration, args.iterations)
    paired_ms = layers.median_ms(paired_generator, args.iterations)

    # The full schedule (spec 5.7): 20,100 generator updates, and 100 critic updates in the first
    # critic_initialization iterations and every 500th, citers otherwise.
    iters = range(cfg.max_iter_step + 1)
    critic_count = sum(100 if t < cfg.critic_initialization or t % 500 == 0 else k for t in iters)
    generator_updates = cfg.max_iter_step + 100
    total_h = (generator_updates * g_ms + critic_count * c_ms) / 3.6e6

    print(f"== {precision} (mixed_precision={mixed}), warm-up {warmup:.1f} s, median of {args.iterations}")
    print(f"generator update:                    {g_ms:8.1f} ms")
    print(f"critic update:                       {c_ms:8.1f} ms  (of {k} fused in one call)")
    print(f"iteration, critic reward (1 + {k}):    {it_ms:8.1f} ms")
    print(f"iteration, paired reward (1 gen):     {paired_ms:8.1f} ms  ({it_ms / paired_ms:.1f}x fewer ms)")
    print(f"full schedule, critic reward ({generator_updates:,} generator + {critic_count:,} critic "
          f"updates): {total_h:.1f} h; paired reward: {generator_updates * paired_ms / 3.6e6:.1f} h")
    # Counted once with TensorFlow's profiler, which put one iteration of batch 64 at about 309 GFLOP (68 per
    # generator update, 48 per critic update), proportional to the batch. The limit is measured now, on
    # this host: it varies between sessions.
    peak = matmul_peak(dtype)
    gflop = round((68 + k * 48) * args.batch_size / 64)
    print(f"limit: a 2048x2048 {precision} matrix product reaches {peak:.0f} GFLOPS here now; {gflop} GFLOP "
          f"per iteration at {gflop / it_ms * 1000:.0f} GFLOPS is {100 * gflop / it_ms * 1000 / peak:.0f}% "
          f"of it (the limit allows {gflop / peak * 1000:.0f} ms per iteration)")
    if args.convs:
        conv_kernels(cfg, dtype, args.batch_size)
    if args.profile:
        profile(iteration)
    return it_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='example')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--precision', choices=['both', 'float32', 'bfloat16'], default='both',
                        help='numeric paths to time (default: both, in one run)')
    parser.add_argument('--iterations', type=int, default=10, help='timed repeats of each measurement')
    parser.add_argument('--threads', type=int, default=0, help='TF intra-op threads (0: TF default)')
    parser.add_argument('--profile', action='store_true', help='also print a per-op profile of one iteration')
    parser.add_argument('--convs', action='store_true', help='also time each convolution shape alone')
    parser.add_argument('--compare-gradients', action='store_true',
                        help="also time the iteration with TensorFlow's convolution gradients, layers.conv's "
                             "forward form and the tuned mix, alternating in one run")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"{util.cpu_name()}, cores: {os.cpu_count()}, TensorFlow {tf.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}; config {args.config}, "
          f"batch {args.batch_size}")
    print(f"mixed_precision='auto' picks {util.precision_description('auto')}")
    paths = ['float32', 'bfloat16'] if args.precision == 'both' else [args.precision]
    ms = {p: measure(args, p) for p in paths}
    if args.compare_gradients:
        for p in paths:
            compare_gradients(args, p, args.iterations)
    if len(ms) == 2:
        faster = min(ms, key=ms.get)
        print(f"\nfaster here: {faster} ({ms['float32']:.0f} ms float32, {ms['bfloat16']:.0f} ms bfloat16 "
              f"per critic-reward iteration)")


if __name__ == '__main__':
    main()
