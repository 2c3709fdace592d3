"""Times the training updates on random inputs: ms per generator update, per critic update and per full
iteration (1 generator + citers critic updates), after warm-up, and what a whole training run would take.

    python bench/train_step.py [--batch-size 64] [--mixed-precision] [--iterations 10] [--threads N]

No data needed. The replay memory and logging of train.py are not included (they are host-side work).
"""
import argparse
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='example')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--mixed-precision', action='store_true', help='bfloat16 convolutions and matmuls')
    parser.add_argument('--iterations', type=int, default=10, help='timed repeats of each measurement')
    parser.add_argument('--threads', type=int, default=0, help='TF intra-op threads (0: TF default)')
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


if __name__ == '__main__':
    main()
