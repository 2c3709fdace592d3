"""Train an Exposure agent: python train.py <config> <model-name> [--key=value ...]

The loop of spec 5.7, read top to bottom: each iteration runs one generator+value update on a batch
of in-progress trajectories from the replay memory (100 at iteration 0, at learning rate 0, to fill
the pool), then 5 critic updates on finished edits against target photos (100 in the first 10
iterations and every 500th). Running the same command again resumes from the newest checkpoint.
"""
import argparse
import collections
import os
import signal
import sys
import time

import numpy as np

import atomic
import cli
import configurator
import recipes

class Tee:
    """Copies a stream to log.txt (append), as the original's log did."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.stream.write(text)
        self.log.write(text)
        self.log.flush()

    def flush(self):
        self.stream.flush()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Train an Exposure agent (actor-critic + WGAN) on a config\'s data.',
        epilog='Any config value can be overridden as --key=value, e.g. --max_iter_step=200 '
               '--batch_size=16 --input_dir=my/inputs --target_dir=my/targets. Outputs go to '
               'models/<config>/<model-name>/; running the same command again resumes there.')
    parser.add_argument('config', help='config name: "example" (or config_example.py) loads config_example.py')
    parser.add_argument('model_name', help='name of the model folder under models/<config>/')
    parser.add_argument('--export', metavar='DIR',
                        help='do not train: write the newest checkpoint\'s actor weights (all that '
                             'evaluation needs) and config.json to DIR, e.g. models/sintel/pretrained')
    parser.add_argument('--half', action='store_true',
                        help='with --export: store the weights in float16, half the file; first check with '
                             'bench/half_weights.py that the model keeps its choices')
    args, overrides = parser.parse_known_args(argv)
    if args.half and not args.export:
        parser.error('--half goes with --export DIR (it sets how the exported weights are stored)')
    bad = [o for o in overrides if not (o.startswith('--') and '=' in o)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are --key=value)")
    args.config = configurator.config_name(args.config)
    return args, overrides


def load_or_create_config(args, overrides, model_dir):
    """A new model snapshots its config; a resumed one reuses the snapshot (plus new overrides)."""
    import net
    snapshot = os.path.join(model_dir, 'config.json')
    cfg = configurator.load_config(args.config, overrides)       # validates the name and the overrides
    if os.path.exists(snapshot):
        try:
            cfg = configurator.apply_overrides(configurator.load_snapshot(snapshot, args.config), overrides)
        except ValueError as e:
            raise cannot_resume(model_dir, e)
    elif net.checkpoint_steps(model_dir):
        # The config file's defaults may differ from what the checkpoints were trained with (a batch
        # of 4 would become 64), so resuming on them would silently change the run.
        raise cannot_resume(model_dir, f"its checkpoints have no {snapshot} (the settings they were "
                                       "trained with); copy it back (an export of this model holds one)")
    check_counts(cfg)
    atomic.write_json(snapshot, configurator.config_to_dict(cfg))
    with open(os.path.join(model_dir, 'commands.txt'), 'a') as f:
        f.write(' '.join(['python', 'train.py', args.config, args.model_name] + overrides) + '\n')
    return cfg


def cannot_resume(model_dir, why):
    return SystemExit(f"error: cannot resume {model_dir}: {why}; or, to start this model again from "
                      f"iteration 0, move {model_dir} aside")


# The least value of each count a run can train with (0 iterations still runs iteration 0).
MINIMUMS = {'max_iter_step': 0, 'batch_size': 1, 'replay_memory_size': 1, 'giters': 1, 'citers': 1,
            'citers_initial': 1, 'warmup_giters': 1, 'critic_initialization': 0,
            'citers_initial_interval': 1, 'checkpoint_interval': 1, 'actor_snapshot_interval': 0,
            'write_image_interval': 1, 'summary_freq': 1, 'test_steps': 1, 'num_samples': 1,
            'median_filter_size': 1}


def check_counts(cfg):
    """Refuses counts no run can use (e.g. --max_iter_step=-5) before anything is written, so a
    mistyped value never lands in config.json for the next command to inherit."""
    for key, minimum in MINIMUMS.items():
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SystemExit(f"error: {key}={value!r}: it must be a whole number of at least {minimum}; "
                             f"pass --{key}=N")
    if cfg.replay_memory_size < cfg.batch_size:
        raise SystemExit(f"error: replay_memory_size={cfg.replay_memory_size} is smaller than batch_size="
                         f"{cfg.batch_size}: the pool must hold a whole batch; raise --replay_memory_size "
                         "or lower --batch_size")


# Files a start writes before it knows the data loads, and TensorFlow's list of checkpoints.
START_FILES = ('config.json', 'commands.txt')
CHECKPOINT_LIST = 'checkpoint'
# Held by the run training the folder (lock_model).
LOCK_FILE = 'train.lock'


def read_start_files(model_dir):
    """{name: bytes, or None if absent} of START_FILES and CHECKPOINT_LIST."""
    contents = dict.fromkeys(START_FILES + (CHECKPOINT_LIST,))
    for name in contents:
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            with open(path, 'rb') as f:
                contents[name] = f.read()
    return contents


def make_model_dir(model_dir):
    """Creates the model folder and its missing parents -> the resolved paths of the folders this
    call created, topmost first: all that a failed start may remove."""
    missing, folder = [], model_dir
    while folder and not os.path.isdir(folder):
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    created = []
    for folder in missing:
        try:
            os.mkdir(folder)
            created.append(os.path.realpath(folder))
        except FileExistsError:           # made meanwhile by another run, or a file in the way
            if not os.path.isdir(folder):
                raise
    return created


def lock_model(model_dir):
    """Holds the model folder for this run, so that a second run on it is refused instead of mixing
    its checkpoints in: an exclusive flock on LOCK_FILE, which the OS releases when the process ends
    however it ends (a run killed with -9 leaves no stale lock). -> the open lock file."""
    import fcntl
    import socket
    lock = open(os.path.join(model_dir, LOCK_FILE), 'a+')
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or 'a run that is just starting'
        lock.close()
        raise SystemExit(f"error: {model_dir} is being trained by another run ({holder}); wait for it "
                         "to end or stop it, or train under another model name")
    lock.truncate(0)
    lock.write(f"process {os.getpid()} on {socket.gethostname()}, started "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    lock.flush()
    return lock


def undo_failed_start(model_dir, created, before):
    """After a run that stopped with an error without saving a checkpoint (e.g. an empty input folder),
    the next command must not inherit its overrides: the folders this start created are removed
    (compared by resolved path, so a name can never reach another folder), an existing model folder
    gets its config.json and commands.txt back. A run that saved keeps everything."""
    import shutil
    if read_start_files(model_dir)[CHECKPOINT_LIST] != before[CHECKPOINT_LIST]:
        return
    real = os.path.realpath(model_dir)
    if real in created:
        shutil.rmtree(real, ignore_errors=True)
    else:
        for name in START_FILES:
            path = os.path.join(model_dir, name)
            if before[name] is not None:
                with open(path, 'wb') as f:
                    f.write(before[name])
            elif os.path.exists(path):
                os.remove(path)
    for folder in reversed(created):      # the parents this start made, if nothing else is in them now
        if folder != real:
            try:
                os.rmdir(folder)
            except OSError:
                pass


def stop_gracefully(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    # Ctrl-C and `kill` both stop a run cleanly from its first second: before training begins, the
    # start is undone; after, train() saves a checkpoint first (a background `&` job ignores SIGINT
    # otherwise).
    handlers = {s: signal.signal(s, stop_gracefully) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:             # after training began, train() saves and returns 130 itself
        print("\ninterrupted before training began; nothing was saved", file=sys.stderr)
        return 130
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def run(argv):
    args, overrides = parse_args(argv)
    try:
        model_dir = configurator.model_dir(args.config, args.model_name)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.export:
        return export(model_dir, args.export, args.half)
    try:
        created = make_model_dir(model_dir)
        lock = lock_model(model_dir)
    except OSError as e:
        raise SystemExit(f"error: cannot write in {model_dir} ({e.strerror}: {e.filename}); a run writes "
                         "its checkpoints there: make it writable, or train from a folder where you can write")
    before = read_start_files(model_dir)
    try:
        cfg = load_or_create_config(args, overrides, model_dir)
        return train_with_log(cfg, model_dir)
    except BaseException:
        undo_failed_start(model_dir, created, before)
        raise
    finally:
        lock.truncate(0)
        lock.close()


def train_with_log(cfg, model_dir):
    """train() with its output copied to log.txt."""
    log = open(os.path.join(model_dir, 'log.txt'), 'a')
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Tee(stdout, log), Tee(stderr, log)
    try:
        return train(cfg, model_dir)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        log.close()


def export(model_dir, out_dir, half=False):
    """Writes a compact inference-only copy of a trained model: actor weights and config."""
    import shutil
    import tensorflow as tf
    import net
    snapshot = os.path.join(model_dir, 'config.json')
    if not os.path.exists(snapshot):
        raise SystemExit(f"error: {model_dir} is not a trained model (no config.json)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SystemExit(f"error: --export {out_dir}: a file, not a folder; name a new or existing folder")
    if os.path.exists(out_dir) and os.path.samefile(out_dir, model_dir):
        raise SystemExit(f"error: --export {out_dir}: that is the model's own folder; name another folder")
    try:
        cfg = configurator.load_snapshot(snapshot)
    except ValueError as e:
        raise SystemExit(f"error: cannot export {model_dir}: {e}")
    gan = net.GAN(cfg)
    try:
        step = gan.restore(model_dir)
    except ValueError as e:
        raise SystemExit(f"error: cannot export {model_dir}: {e}")
    if step is None:
        raise SystemExit(f"error: {model_dir} holds no checkpoint to export")
    gan.save_actor(os.path.join(out_dir, 'actor'), tf.float16 if half else tf.float32)
    shutil.copyfile(snapshot, os.path.join(out_dir, 'config.json'))
    # The training inputs' statistics, so evaluate.py can warn about photos far outside them.
    domain = os.path.join(model_dir, 'input_domain.json')
    if os.path.exists(domain):
        shutil.copyfile(domain, os.path.join(out_dir, 'input_domain.json'))
    else:
        print(f"warning: {model_dir} has no input_domain.json (trained before it was recorded); "
              "evaluate.py will not warn about photos outside the training inputs", file=sys.stderr)
    print(f"exported the actor of {model_dir} at iteration {step} to {out_dir}")
    return 0


def train(cfg, model_dir):
    import tensorflow as tf
    import data
    import domain
    import image_io
    import layers
    import net
    import util
    import vis
    from replay_memory import ReplayMemory

    started = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    print(f"== {cfg.config_name}/{os.path.basename(model_dir)} on {util.configure_tensorflow()}; started {started}")
    if cfg.seed is not None:
        tf.keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # The paired reward needs no critic: each input carries its own target (channels 3-5 of every
    # record, in the data and in the replay memory); the critic reward draws targets on their own.
    paired = cfg.reward == 'paired'
    try:
        if paired:
            inputs, targets = data.make_pair_provider(cfg, 'train', seed=cfg.seed), None
        else:
            inputs = data.make_provider(cfg, 'input', 'train', seed=cfg.seed)
            targets = data.make_provider(cfg, 'target', 'train', seed=None if cfg.seed is None else cfg.seed + 1)
        input_domain = domain.record(cfg, inputs)
    except data.DataError as e:
        raise SystemExit(f"error: {e}")
    providers = [p for p in (inputs, targets) if p]
    print(f"inputs:  {inputs.description}")
    print(f"targets: {targets.description if targets else 'each input has its own (paired reward)'}")
    print(f"precision: {util.precision_description(cfg.mixed_precision)}")

    gan = net.GAN(cfg)
    manager = gan.make_manager(model_dir)
    try:
        start = gan.restore(model_dir) or 0
    except ValueError as e:
        raise cannot_resume(model_dir, e)
    print(f"resuming at iteration {start}" if start else "starting a new model")
    if start > cfg.max_iter_step:
        print(f"already trained to max_iter_step={cfg.max_iter_step}; raise it with --max_iter_step=N")
        for provider in providers:
            provider.close()
        return 0
    print(layers.tune_gradients(layers.tower_shapes(cfg.source_img_size, cfg.base_channels), cfg.batch_size,
                                util.compute_dtype(cfg.mixed_precision)), flush=True)
    atomic.write_json(os.path.join(model_dir, 'input_domain.json'), input_domain)
    writer = tf.summary.create_file_writer(model_dir)
    memory = ReplayMemory(cfg, inputs, seed=cfg.seed, channels=6 if paired else 3)
    vis_records, _ = memory.get_feed_batch(cfg.num_samples)   # fixed visualization batch (spec 6.2)
    vis_inputs = vis_records[..., :3]
    pool_file = os.path.join(model_dir, 'replay_memory.npz')
    # A resumed run continues with the saved pool; without one it needs the warm-up rollouts again.
    warm_up = start == 0 or not memory.load(pool_file)
    vis_targets = vis_records[..., 3:] if paired else targets.next_batch(cfg.num_samples)
    image_dir = os.path.join(model_dir, 'images')
    B, T = cfg.batch_size, cfg.max_iter_step
    recent = collections.defaultdict(lambda: collections.deque(maxlen=cfg.median_filter_size))
    t_start, it = time.time(), start
    last_save = t_start

    saved = None        # the iteration of the last checkpoint this session wrote

    def save(iteration, stopping=False):
        """A checkpoint that Ctrl-C or SIGTERM does not cut short (stopping: the run stops after it anyway)."""
        nonlocal last_save, saved
        with cli.interrupts_held(f'saving the checkpoint of iteration {iteration}', stopping):
            gan.iteration.assign(iteration)
            memory.save(pool_file)
            manager.save(checkpoint_number=iteration)
            last_save, saved = time.time(), iteration

    try:
        for it in range(start, T + 1):
            t_iter = time.time()
            progress = it / T
            lr_g, lr_v, lr_c = net.learning_rates(cfg, it)
            # Iteration 0: 100 rollouts at learning rate 0 only fill the pool with finished edits
            # (Adam's moments still move, as in the original). A resumed run without a saved pool
            # does the same once.
            g_updates = cfg.warmup_giters if it == start and warm_up else cfg.giters
            if it == start and warm_up:
                lr_g = lr_v = 0.0
            special = it < cfg.critic_initialization or it % cfg.citers_initial_interval == 0
            c_updates = cfg.citers_initial if special else cfg.citers

            for _ in range(g_updates):
                records, states = memory.get_next_fake_batch()
                images, own_targets = records[..., :3], records[..., 3:]   # no channels: unpaired
                noise = rng.random((B, cfg.z_dim), dtype=np.float32)
                g = gan.actor_step(images, states, noise, lr_g, lr_v, progress,
                                       own_targets if paired else None)
                memory.replace_memory(np.concatenate([g['fake_output'], own_targets], axis=-1),
                                      g['new_states'])

            # The critic sees finished edits from the pool against target photos, in fused chunks
            # of cfg.citers updates (one compiled function for every chunk).
            c = {}
            for _ in range(0 if paired else max(1, c_updates // cfg.citers)):
                fake = np.stack([memory.get_critic_batch() for _ in range(cfg.citers)])
                real = np.stack([targets.next_batch(B) for _ in range(cfg.citers)])
                c = gan.critic_steps(fake, real, lr_c)

            stats = {k: float(v) for k, v in {**g, **c}.items() if np.ndim(v) == 0}
            bad = [k for k, v in stats.items() if not np.isfinite(v)]
            if bad:
                raise FloatingPointError(f"non-finite {', '.join(bad)} at iteration {it}")
            for k, v in stats.items():
                recent[k].append(v)

            if it % cfg.summary_freq == 0:
                with writer.as_default(step=it):
                    for k, v in stats.items():
                        tf.summary.scalar(k, v)
                    for name, lr in (('lr_generator', lr_g), ('lr_value', lr_v), ('lr_critic', lr_c)):
                        tf.summary.scalar(name, lr)
            if it % cfg.write_image_interval == 0:
                figure = training_figure(gan, memory, vis_inputs, vis_targets, inputs, cfg, vis)
                image_io.write_image(os.path.join(image_dir, f'{it:06d}.png'), figure)
                with writer.as_default(step=it):
                    tf.summary.image('training', figure[None], max_outputs=1)
            # Also by the clock: a kill that cannot be caught (SIGKILL, power loss) then loses at most
            # checkpoint_minutes of a slow run, not up to checkpoint_interval iterations.
            overdue = cfg.checkpoint_minutes and time.time() - last_save > 60 * cfg.checkpoint_minutes
            if (it + 1) % cfg.checkpoint_interval == 0 or overdue:
                save(it + 1)
            if cfg.actor_snapshot_interval and (it + 1) % cfg.actor_snapshot_interval == 0:
                # Kept, unlike the rolling checkpoints: a long run's score curve is made from these.
                with cli.interrupts_held(f'saving the actor of iteration {it + 1}'):
                    gan.save_actor(os.path.join(model_dir, 'actors', f'actor-{it + 1}'))

            if it % 10 == 0 or it == T:
                done = it - start + 1
                elapsed = time.time() - t_start
                rate = done / elapsed
                eta = (T - it) / rate if rate else 0
                med = {k: np.median(recent[k]) for k in ('g_loss', 'v_loss', 'emd', 'psnr') if recent[k]}
                quality = (f"PSNR {med.get('psnr', 0):.2f} dB" if paired else
                           f"EMD {med.get('emd', 0):+.4f}  cgn {stats.get('grad_norm', 0):.3f}")
                print(f"it {it:6d}/{T}  {1000 * (time.time() - t_iter):6.0f} ms  {rate:5.2f} it/s  "
                      f"ETA {eta / 60:6.1f} min  g_loss {med.get('g_loss', 0):+.4f}  "
                      f"v_loss {med.get('v_loss', 0):.4f}  {quality}", flush=True)
            if it % 100 == 0:
                print(f"   {elapsed / 60:.1f} min elapsed; {memory.debug()}", flush=True)
    except KeyboardInterrupt:
        if saved != it + 1:         # (an interrupt held while iteration `it`'s own checkpoint was saved)
            save(it, stopping=True)     # iteration `it` was not finished: resume re-runs it
        print(f"\ninterrupted: saved a checkpoint at iteration {saved} in {model_dir} after "
              f"{(time.time() - t_start) / 60:.1f} min; run the same command to resume")
        return 130
    except FloatingPointError as e:
        print(f"error: training diverged ({e}). Nothing was saved after the last checkpoint "
              f"({manager.latest_checkpoint or 'none'}). Try a lower learning rate (--base_lr=...) "
              "or a different --seed, then resume.", file=sys.stderr)
        return 1
    finally:
        for provider in providers:   # their prefetch threads hold the training data
            provider.close()
    save(T + 1, stopping=True)
    print(f"done: iterations {start}..{T} in {(time.time() - t_start) / 60:.1f} min; model in {model_dir}")
    return 0


def training_figure(gan, memory, vis_inputs, vis_targets, inputs, cfg, vis):
    """Spec 9.1: operating sequences of 8 fresh inputs, replay buffer, results and targets."""
    ema = float(gan.ema_score)
    fresh = inputs.next_batch(8)[..., :3]   # without the paired reward's target channels
    steps = gan.rollout(fresh, is_train=cfg.test_random_walk)
    names = [f.short_name for f in gan.filters]
    sequences = []
    images = [fresh] + [s['output'] for s in steps]
    scores = [gan.score(fresh)] + [s['score'] for s in steps]
    grads = [gan.image_gradient(x) for x in images]
    for k in range(len(fresh)):
        seq = []
        edits = recipes.chosen_edits(steps, k)
        for c in range(len(images)):
            panel = np.full((64, 64, 3), 0.5, np.float32)
            text = None
            if c > 0:
                s, (a, params) = steps[c - 1], edits[c - 1]
                op = gan.filters[a].visualize(params, 64)
                bars = vis.decision_panel(s['pdf'][k], a, names)
                panel = np.where(np.abs(bars - 0.5) > 0.01, bars, op)   # bars drawn over the filter view
                text = f"{float(s['value'][k]):+.2f} {float(s['reward'][k]):+.2f}"
            seq.append({'image': images[c][k], 'gradient': np.asarray(grads[c][k]), 'panel': panel,
                        'text': text, 'score': float(scores[c][k]) - ema})
        sequences.append(seq)
    pool = memory.images[:64, ..., :3]
    pool_scores = np.asarray(gan.score(pool)) - ema
    replay = [vis.scored_tile(pool[k], pool_scores[k], memory.states[k]) for k in range(len(pool))]
    results_steps = gan.rollout(vis_inputs, is_train=False)
    final = results_steps[-1]
    results = [vis.scored_tile(final['output'][k], float(final['score'][k]) - ema, step=cfg.test_steps)
               for k in range(len(vis_inputs))]
    target_scores = np.asarray(gan.score(vis_targets)) - ema
    targets = [vis.scored_tile(vis_targets[k], target_scores[k]) for k in range(len(vis_targets))]
    return vis.training_figure(sequences, replay, results, targets)


if __name__ == '__main__':
    sys.exit(main())
