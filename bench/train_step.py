"""Times the training updates on random inputs: ms per generator update, per critic update and per full
iteration (1 generator + citers critic updates), after warm-up, and what a whole training run would take.

    python bench/train_step.py [--batch-size 64] [--mixed-precision] [--iterations 10] [--threads N] [--profile]

No data needed. The replay memory and logging of train.py are not included (they are host-side work).
--profile also traces one iteration with TensorFlow's profiler and prints where its time goes: total
time per op type (summed over TensorFlow's compute threads, so it can exceed the wall time when ops
overlap), with the calls that only wrap other ops (while loops, function calls) left out.
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

import net  # noqa: E402
import util  # noqa: E402


def timed(fn, repeats):
    """Median wall-clock milliseconds of fn() (which must block until its results are ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times))


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
    total = sum(per_type.values())
    print(f"profile of one iteration: {wall_ms:.0f} ms wall under the profiler, {total:.0f} ms of op time "
          f"over {len(per_type)} op types (trace in {logdir})")
    for op_type, ms in per_type.most_common(top):
        print(f"  {op_type:32s} {ms:8.1f} ms  {100 * ms / total:5.1f}%")
    rest = total - sum(ms for _, ms in per_type.most_common(top))
    print(f"  {'(other op types)':32s} {rest:8.1f} ms  {100 * rest / total:5.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='example')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--mixed-precision', action='store_true', help='bfloat16 convolutions and matmuls')
    parser.add_argument('--iterations', type=int, default=10, help='timed repeats of each measurement')
    parser.add_argument('--threads', type=int, default=0, help='TF intra-op threads (0: TF default)')
    parser.add_argument('--profile', action='store_true', help='also print a per-op profile of one iteration')
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    cfg = util.load_config(args.config, [f'--mixed_precision={args.mixed_precision}', '--seed=0'])
    gan = net.GAN(cfg)
    b, size, k = args.batch_size, cfg.source_img_size, cfg.citers
    rng = np.random.default_rng(0)
    images = rng.random((b, size, size, 3), dtype=np.float32) * 0.6
    states = np.zeros((b, cfg.num_state_dim), np.float32)
    states[:, 2] = rng.integers(0, cfg.test_steps, b)
    noise = rng.random((b, cfg.z_dim), dtype=np.float32)
    fake = rng.random((k, b, size, size, 3), dtype=np.float32)
    real = rng.random((k, b, size, size, 3), dtype=np.float32)
    lr_g, lr_v, lr_c = net.learning_rates(cfg, 1)

    def generator():
        gan.generator_step(images, states, noise, lr_g, lr_v, 0.5)['g_loss'].numpy()

    def critic():
        gan.critic_steps(fake, real, lr_c)['c_loss'].numpy()

    def iteration():
        generator()
        critic()

    start = time.perf_counter()
    for fn in (generator, critic, iteration):     # traces once, then warms caches and thread pools
        fn()
        fn()
    warmup = time.perf_counter() - start
    g_ms = timed(generator, args.iterations)
    c_ms = timed(critic, args.iterations) / k
    it_ms = timed(iteration, args.iterations)

    # The full schedule (spec 5.7): 20,100 generator updates, and 100 critic updates in the first
    # critic_initialization iterations and every 500th, citers otherwise.
    iters = range(cfg.max_iter_step + 1)
    critic_updates = sum(100 if t < cfg.critic_initialization or t % 500 == 0 else k for t in iters)
    generator_updates = cfg.max_iter_step + 100
    total_h = (generator_updates * g_ms + critic_updates * c_ms) / 3.6e6

    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"cores: {os.cpu_count()}, TensorFlow {tf.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    print(f"settings: config {args.config}, batch {b}, {size}x{size}, critic updates per iteration {k}, "
          f"mixed precision {cfg.mixed_precision}, median of {args.iterations}, warm-up {warmup:.1f} s")
    print(f"generator update:             {g_ms:8.1f} ms")
    print(f"critic update:                {c_ms:8.1f} ms  (of {k} fused in one call)")
    print(f"iteration (1 gen + {k} critic): {it_ms:8.1f} ms")
    print(f"20,000 iterations at this rate: {20000 * it_ms / 3.6e6:.1f} h; the full schedule "
          f"({generator_updates:,} generator + {critic_updates:,} critic updates): {total_h:.1f} h")

    if args.profile:
        profile(iteration)


if __name__ == '__main__':
    main()
