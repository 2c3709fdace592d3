"""The model as a whole (spec 5): the three networks, their losses and updates, rollouts, checkpoints,
and loading the original authors' TF1 checkpoint.

The three networks, one name each:
- actor: the policy network (agent.Actor), the paper's "generator" in its GAN terms; hence lr_g,
  g_loss and the config's generator_lr_mul, and `agent`/`g_optimizer` in checkpoints.
- critic: the WGAN discriminator D(image) (critic.Critic; `discriminator`/`c_optimizer` in checkpoints).
- value network: V(image, state), the critic's shape with the state as extra planes (a critic.Critic
  too; `value`/`v_optimizer` in checkpoints).

The training loop (train.py) owns the iteration schedule and the replay memory; this file owns what one
actor update and one batch of critic updates do. Each is a single compiled tf.function whose inputs are
tensors (learning rates included), so calls never retrace.
"""
import contextlib
import functools
import glob
import os
import re

import keras
import numpy as np
import tensorflow as tf

import atomic
from agent import Actor, act, split_seed, uniform
from critic import Critic
from filters import build_filters
from state import STOPPED

EMA_DECAY = 0.99


def learning_rates(cfg, iteration):
    """(lr_g, lr_v, lr_c) at an iteration: base * mul * decay^(segments * t / max_iter), value = 10 x actor."""
    decay = cfg.lr_decay ** (cfg.lr_segments * iteration / cfg.max_iter_step)
    lr_g = cfg.base_lr * cfg.generator_lr_mul * decay
    return lr_g, cfg.value_lr_mul * lr_g, cfg.base_lr * cfg.critic_lr_mul * decay


def random_generator(seed):
    return tf.random.Generator.from_non_deterministic_state() if seed is None else tf.random.Generator.from_seed(seed)


def adam(cfg, variables, build=True):
    """TF1's Adam (epsilon 1e-8, not Keras' 1e-7); the learning rate is assigned before every update."""
    optimizer = keras.optimizers.Adam(learning_rate=0.0, beta_1=cfg.adam_beta1, beta_2=cfg.adam_beta2,
                                      epsilon=cfg.adam_epsilon)
    if build:
        optimizer.build(variables)    # slots exist before any restore or trace
    return optimizer


def reward(cfg, score_new, score_old, penalty, stopped):
    """Spec 5.3: 0.05 (D(s') - D(s)) on every step (all_reward = 1), minus the penalties.

    With the paired reward the scores are PSNRs against the step's own target (paired_score) and
    the multiplier is paired_reward_per_db; everything else is the same.
    """
    weight = cfg.all_reward + (1.0 - cfg.all_reward) * stopped
    multiplier = cfg.paired_reward_per_db if cfg.reward == 'paired' else cfg.critic_logit_multiplier
    r = weight * multiplier * (score_new - score_old)
    return r - penalty if cfg.use_penalty else r


def paired_score(cfg, images, targets):
    """PSNR (dB) of images against their targets, per sample, on values clipped to [0, 1] as they
    are written (values above 1 are the over-exposure penalty's business)."""
    error = tf.reduce_mean(tf.square(tf.clip_by_value(images, 0.0, 1.0) - targets), axis=[1, 2, 3])
    return -10.0 / tf.math.log(10.0) * tf.math.log(error + cfg.paired_mse_floor)


IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32)
SCALAR = tf.TensorSpec([], tf.float32)


class GAN:
    """Owns the networks, optimizers, the critic-score EMA and the training randomness.

    All randomness (weight init, dropout masks, gradient-penalty mixing, rollouts without a seed) comes
    from cfg.seed when it is set, so a run can be repeated; with seed None it is non-deterministic.
    training=False is for inference only (rollout, score, load_actor): the optimizers' slot variables are
    not built, which shortens evaluate.py's start-up; updates and restore() need training=True.
    """

    def __init__(self, cfg, training=True):
        if cfg.gan != 'w' or cfg.supervised or not cfg.use_TD:
            raise ValueError("config: gan='w', supervised=False and use_TD=True are required (the other "
                             "paths of spec 5.4 and 5.9 are dormant in the original and not ported)")
        self.cfg = cfg
        self.filters = build_filters(cfg)
        init = random_generator(cfg.seed)
        self.actor = Actor(cfg, self.filters, init)
        self.critic = Critic(cfg, 0, init, name='critic')
        self.value = Critic(cfg, cfg.num_state_dim, init, name='rl_value')
        self.rng = random_generator(None if cfg.seed is None else cfg.seed + 1)
        self.actor_optimizer = adam(cfg, self.actor.trainable_variables, training)
        self.value_optimizer = adam(cfg, self.value.trainable_variables, training)
        self.critic_optimizer = adam(cfg, self.critic.trainable_variables, training)
        # Zero-debiased EMA of the mean critic score, for display only (spec 5.6).
        self.ema_biased = tf.Variable(0.0, trainable=False)
        self.ema_steps = tf.Variable(0.0, trainable=False)
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False)
        # The checkpoint keys are the names of the first checkpoints, kept so that they still load.
        self.checkpoint = tf.train.Checkpoint(
            agent=self.actor, discriminator=self.critic, value=self.value,
            g_optimizer=self.actor_optimizer, v_optimizer=self.value_optimizer, c_optimizer=self.critic_optimizer,
            ema_biased=self.ema_biased, ema_steps=self.ema_steps, iteration=self.iteration, rng=self.rng)
        states = tf.TensorSpec([None, cfg.num_state_dim], tf.float32)
        # Training sees only source_img_size views: fixing their size in the signatures lets the
        # convolutions' gradients (layers.conv) do their shape arithmetic while tracing.
        size = cfg.source_img_size
        views = tf.TensorSpec([None, size, size, 3], tf.float32)
        self._actor_step = tf.function(self._actor_update, input_signature=[
            views, states, tf.TensorSpec([None, None], tf.float32), SCALAR, SCALAR, SCALAR, views])
        self._critic_steps = tf.function(self._critic_updates, input_signature=[
            tf.TensorSpec([None, None, size, size, 3], tf.float32),
            tf.TensorSpec([None, None, size, size, 3], tf.float32), SCALAR])
        # Inference functions have no Python control flow on tensors, so they skip AutoGraph's source
        # conversion, which makes the agent step's first trace (evaluate.py's start-up) about three
        # times shorter (docs/PERFORMANCE.md).
        inference = functools.partial(tf.function, autograph=False)
        step, act_only = (functools.partial(self._eval_step, critique=c) for c in (True, False))
        step_signature = [IMAGES, states, tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.bool), SCALAR]
        self._step = inference(step, input_signature=step_signature)
        self._act = inference(act_only, input_signature=step_signature)
        # The same with one seed per image (N, 2), rollout's per-image seeds; traced only when first used.
        per_image = step_signature[:2] + [tf.TensorSpec([None, 2], tf.int64)] + step_signature[3:]
        self._step_per_image = inference(step, input_signature=per_image)
        self._act_per_image = inference(act_only, input_signature=per_image)
        self._score = inference(self.critic.__call__, input_signature=[IMAGES])
        self._image_gradient = inference(self._d_gradient, input_signature=[IMAGES])

    # ------------------------------------------------------------------------------------------
    # Training

    def actor_step(self, images, states, noise, lr_g, lr_v, progress, targets=None):
        """One actor + value update (spec 5.1-5.4) on a replay batch; noise (B, z_dim), only z[:, 0] is used.
        targets (B, H, W, 3): each record's own target, for the paired reward (else unused).

        Returns tensors: g_loss, v_loss, reward (mean), fake_output (B, H, W, 3), new_states (B, 11),
        action (B,), entropy, penalty, value (mean V_old) and score (mean D(s'), or with the paired
        reward the mean PSNR of s' against its target).
        """
        f = lambda x: tf.cast(x, tf.float32)
        return self._actor_step(f(images), f(states), f(noise), f(lr_g), f(lr_v), f(progress),
                                    f(images if targets is None else targets))

    def _actor_update(self, images, states, noise, lr_g, lr_v, progress, targets):
        cfg = self.cfg
        seed = self.rng.make_seeds(1)[:, 0]
        paired = cfg.reward == 'paired'
        # The score of s is a constant of the reward: no tape needed.
        score_old = paired_score(cfg, images, targets) if paired else self.critic(images)
        # One forward pass feeds both updates: same dropout masks, same sampled actions (spec 5.6).
        with tf.GradientTape(persistent=True) as tape:
            step = act(self.actor, self.filters, cfg, images, states, noise[:, 0], seed, True, progress)
            fake, new_states = step['output'], step['new_states']
            stopped = new_states[:, STOPPED]
            score_new = paired_score(cfg, fake, targets) if paired else self.critic(fake)
            r = reward(cfg, score_new, score_old, step['penalty'], stopped)
            v_old = self.value(images, states)
            # TD target. Gradient flows through V(s', state') into the chosen filter (deterministic policy
            # gradient). The original's zeroing of V for steps > 7 never fires: episodes end at step 5.
            q = r + (1.0 - stopped) * cfg.discount_factor * self.value(fake, new_states)
            advantage = tf.stop_gradient(q) - v_old
            v_loss = tf.reduce_mean(tf.square(advantage))
            # -q trains the continuous parameters; -A log pi(a) is REINFORCE with the value baseline.
            g_loss = tf.reduce_mean(-q * cfg.parameter_lr_mul - tf.stop_gradient(advantage) * step['log_pi'])
        self.actor_optimizer.learning_rate = lr_g
        self.value_optimizer.learning_rate = lr_v
        actor_vars, value_vars = self.actor.trainable_variables, self.value.trainable_variables
        self.actor_optimizer.apply_gradients(zip(tape.gradient(g_loss, actor_vars), actor_vars))
        self.value_optimizer.apply_gradients(zip(tape.gradient(v_loss, value_vars), value_vars))
        return dict(g_loss=g_loss, v_loss=v_loss, reward=tf.reduce_mean(r), fake_output=fake,
                    new_states=new_states, action=step['action'], entropy=tf.reduce_mean(step['entropy']),
                    penalty=tf.reduce_mean(step['penalty']), value=tf.reduce_mean(v_old),
                    **{'psnr' if paired else 'd_fake': tf.reduce_mean(score_new)})

    def critic_steps(self, fake, real, lr_c):
        """k critic updates on fake, real of shape (k, B, H, W, 3), fused in one graph (spec 5.4-5.6).

        Returns the metrics of the LAST update: c_loss, emd (before the GP), gp, grad_norm (mean ||g||).
        The EMA of the critic score is updated after each update.
        """
        return self._critic_steps(tf.cast(fake, tf.float32), tf.cast(real, tf.float32), tf.cast(lr_c, tf.float32))

    def _critic_updates(self, fake, real, lr_c):
        self.critic_optimizer.learning_rate = lr_c
        metrics = dict(c_loss=0.0, emd=0.0, gp=0.0, grad_norm=0.0)
        for i in tf.range(tf.shape(fake)[0]):
            metrics = self._critic_update(fake[i], real[i])
        return metrics

    def _critic_update(self, fake, real):
        cfg, critic = self.cfg, self.critic
        alpha = self.rng.uniform([tf.shape(real)[0], 1, 1, 1])
        mixed = real + alpha * (fake - real)
        with tf.GradientTape() as tape:
            # One pass over fake and real together: both need only the weights' gradient, and in
            # bfloat16 one batch of 2B is faster than two batches of B (float32: the same;
            # docs/PERFORMANCE.md). No layer mixes samples, so the scores are the same.
            d_fake, d_real = tf.split(critic(tf.concat([fake, real], axis=0)), 2)
            d_fake, d_real = tf.reduce_mean(d_fake), tf.reduce_mean(d_real)
            with tf.GradientTape() as inner:
                inner.watch(mixed)
                d_mixed = critic(mixed)
            g = inner.gradient(d_mixed, mixed)     # per-sample gradients: samples do not interact
            norm = tf.sqrt(1e-6 + tf.reduce_sum(tf.square(g), axis=[1, 2, 3]))
            gp = cfg.gradient_penalty_lambda * tf.reduce_mean(tf.square(tf.nn.relu(norm - 1.0)))   # one-sided
            c_loss = d_fake - d_real + gp
        variables = critic.trainable_variables
        self.critic_optimizer.apply_gradients(zip(tape.gradient(c_loss, variables), variables))
        self.ema_biased.assign(EMA_DECAY * self.ema_biased + (1.0 - EMA_DECAY) * (d_fake + d_real) / 2.0)
        self.ema_steps.assign_add(1.0)
        return dict(c_loss=c_loss, emd=d_real - d_fake, gp=gp, grad_norm=tf.reduce_mean(norm))

    @property
    def ema_score(self):
        """Bias-corrected EMA of (mean D(fake) + mean D(real)) / 2; 0 before the first critic update."""
        steps = float(self.ema_steps.numpy())
        return float(self.ema_biased.numpy()) / (1.0 - EMA_DECAY ** steps) if steps else 0.0

    # ------------------------------------------------------------------------------------------
    # Inference and visualization

    def rollout(self, images, steps=None, is_train=False, seed=None, progress=0.0, critique=True):
        """Runs an episode on images (N, 64, 64, 3) from the zero state; dropout is on.

        is_train False takes the argmax filter (evaluation), True samples it. seed (int) makes the
        dropout masks and samples repeatable; None draws them from the model's generator. seed may also be
        one int per image: each image's masks and samples then come from its own seed alone, so an image
        gets the same edit whatever else is in its batch.
        Returns one dict of numpy arrays per step: input, output, states (after), action (N,), pdf (N, 8),
        params (list of 8 arrays (N, n_j) in user units), score (D(output)), value (V(output, states))
        and reward (with penalties at `progress`); critique=False leaves out these three (evaluation does
        not need them, and they run the critic twice and the value network once more per step).
        """
        x = tf.cast(images, tf.float32)
        states = tf.zeros([x.shape[0], self.cfg.num_state_dim])
        trace = []
        per_image = np.ndim(seed) == 1
        for i in range(self.cfg.test_steps if steps is None else steps):
            if seed is None:
                step_seed = self.rng.make_seeds(1)[:, 0]
            else:       # [seed, step], or per image [seed_k, step]
                step_seed = tf.constant(np.stack(np.broadcast_arrays(seed, i), axis=-1), tf.int64)
            if per_image:
                step_fn = self._step_per_image if critique else self._act_per_image
            else:
                step_fn = self._step if critique else self._act
            out = step_fn(x, states, step_seed, tf.constant(bool(is_train)), tf.constant(progress, tf.float32))
            trace.append(dict(input=x.numpy(), output=out['output'].numpy(), states=out['new_states'].numpy(),
                              action=out['action'].numpy(), pdf=out['pi'].numpy(),
                              params=[p.numpy() for p in out['params']]))
            if critique:
                trace[-1].update(score=out['score'].numpy(), value=out['value'].numpy(),
                                 reward=out['reward'].numpy())
            x, states = out['output'], out['new_states']
        return trace

    def _eval_step(self, images, states, seed, sample, progress, critique):
        seeds = split_seed(seed)
        u = uniform(tf.shape(images)[0], seeds[1])
        step = act(self.actor, self.filters, self.cfg, images, states, u, seeds[0], sample, progress)
        step['params'] = [f.parameters(r) for f, r in zip(self.filters, step['raw'])]
        if not critique:
            return step
        score = self.critic(step['output'])
        step['score'] = score
        step['value'] = self.value(step['output'], step['new_states'])
        step['reward'] = reward(self.cfg, score, self.critic(images), step['penalty'],
                                step['new_states'][:, STOPPED])
        return step

    def score(self, images):
        """D(images) (N,) for images (N, 64, 64, 3)."""
        return self._score(tf.cast(images, tf.float32)).numpy()

    def image_gradient(self, images):
        """dD/dimage (N, 64, 64, 3); the training visualization shows 10 * grad + 0.5."""
        return self._image_gradient(tf.cast(images, tf.float32)).numpy()

    def _d_gradient(self, images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            d = self.critic(images)
        return tape.gradient(d, images)

    # ------------------------------------------------------------------------------------------
    # Checkpoints

    def make_manager(self, directory, max_to_keep=1):
        """Full training checkpoints as <directory>/model.ckpt-<N>; save with manager.save(checkpoint_number=N)."""
        return tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep,
                                          checkpoint_name='model.ckpt')

    def restore(self, directory, step=None):
        """Restores the newest full checkpoint in directory (or the given step). Returns its step, or None
        when the directory holds no checkpoint."""
        available = checkpoint_steps(directory)
        if not available:
            return None
        if step is None:
            step = max(available)
        elif step not in available:
            raise ValueError(f"{directory}: no checkpoint for step {step}; available steps: "
                             f"{', '.join(map(str, sorted(available)))}")
        prefix = available[step]
        with reading(prefix):
            names = [name for name, _ in tf.train.list_variables(prefix)]
        if not any(name.startswith('c_optimizer/') for name in names):
            raise ValueError(f"{prefix}: an actor-only checkpoint (no optimizer state), so training cannot "
                             "resume from it; use load_actor for inference")
        with reading(prefix):
            # expect_partial: the manager's save_counter is bookkeeping this object may not have made yet.
            self.checkpoint.read(prefix).assert_existing_objects_matched().expect_partial()
        return step

    def save_actor(self, path, dtype=tf.float32):
        """Writes the actor's weights only (no optimizer state) as the checkpoint prefix `path`, atomically.

        dtype float16 stores them at half size (load_actor casts them back); it rounds every weight,
        so check a model's choices with bench/half_weights.py before shipping it that way.
        """
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        actor = self.actor
        if dtype != tf.float32:
            actor = self._actor_copy(dtype)
            for stored, weight in zip(actor.variables, self.actor.variables):
                stored.assign(tf.cast(weight, dtype))
        # TensorFlow names the checkpoint's files after a prefix; the index goes last: it makes the
        # checkpoint visible.
        prefix = atomic.temporary_path(os.path.dirname(os.path.abspath(path)))
        suffixes = ('.data-00000-of-00001', '.index')
        with atomic.publish([path + s for s in suffixes], [prefix + s for s in suffixes]):
            tf.train.Checkpoint(agent=actor).write(prefix)

    def load_actor(self, path):
        """Loads the actor from an actor-only or a full checkpoint: a prefix, or a directory (its newest).
        Weights stored in float16 (save_actor) are cast to the actor's float32."""
        prefix = path
        if os.path.isdir(path):
            available = checkpoint_steps(path)
            if not available:
                raise ValueError(f"{path}: no checkpoint (*.index) in this directory; train a model first or "
                                 "pass a checkpoint prefix")
            prefix = available[max(available)]
        elif not os.path.exists(prefix + '.index'):
            raise ValueError(f"{path}: no such checkpoint ({prefix}.index is missing)")
        with reading(prefix):
            stored = {dtype for name, dtype in tf.train.load_checkpoint(prefix).get_variable_to_dtype_map().items()
                      if name.startswith('agent/')}
        if not stored:
            raise ValueError(f"{prefix}: not a checkpoint of this project (no agent weights); for the original "
                             "authors' TF1 checkpoint use load_original_checkpoint")
        if len(stored) != 1:
            raise ValueError(f"{prefix}: agent weights in mixed dtypes {sorted(d.name for d in stored)}")
        actor = self.actor if stored == {tf.float32} else self._actor_copy(stored.pop())
        with reading(prefix):
            tf.train.Checkpoint(agent=actor).read(prefix).expect_partial().assert_existing_objects_matched()
        if actor is not self.actor:
            for weight, value in zip(self.actor.variables, actor.variables):
                weight.assign(tf.cast(value, weight.dtype))

    def _actor_copy(self, dtype):
        """An actor of the same structure with weights stored in dtype (same variable order)."""
        return Actor(self.cfg, self.filters, tf.random.Generator.from_seed(0), weight_dtype=dtype)


@contextlib.contextmanager
def reading(prefix):
    """TensorFlow's errors on reading a checkpoint as a ValueError that names it and the fix."""
    try:
        yield
    except (AssertionError, ValueError) as e:      # weights missing, or of other shapes
        raise ValueError(f"{prefix}: its weights do not fit the networks of this config ({str(e).strip()[:200]}); "
                         "use the config it was trained with (the config.json saved with it)") from None
    except (tf.errors.OpError, IndexError) as e:    # IndexError: a .data file cut short
        raise ValueError(f"{prefix}: damaged checkpoint ({type(e).__name__}: {str(e).strip()[:200]}); its "
                         ".index or .data file was cut short or corrupted, e.g. by an interrupted copy: "
                         "copy both files again") from None


def checkpoint_steps(directory):
    """{step: prefix} of the checkpoints <name>-<step>.index in directory."""
    found = {}
    for index in glob.glob(os.path.join(glob.escape(directory), '*-*.index')):
        m = re.search(r'-(\d+)\.index$', index)
        if m:
            found[int(m.group(1))] = index[:-len('.index')]
    return found


# ----------------------------------------------------------------------------------------------
# The original authors' TF1 checkpoint (spec 4.7)

def original_variable_map(gan):
    """{TF1 variable name: tf.Variable} for every weight of the three networks and the critic-score EMA."""
    def tower(scope, t):
        return {f"{scope}/Conv{'_%d' % i if i else ''}/{kind}": var
                for i, conv in enumerate(t.convs) for kind, var in (('weights', conv.kernel), ('biases', conv.bias))}

    def dense(scope, d):
        return {f'{scope}/weights': d.kernel, f'{scope}/biases': d.bias}

    a = gan.actor
    names = {**tower('generator', a.features), **tower('generator/action_selection', a.selector_features),
             **dense('generator/action_selection/selector_fc1', a.selector_fc1),
             **dense('generator/action_selection/selector_fc2', a.selector_fc2)}
    for j, (fc1, fc2) in enumerate(zip(a.filter_fc1, a.filter_fc2)):
        names.update({**dense(f'generator/filter_{j}/fc1', fc1), **dense(f'generator/filter_{j}/fc2', fc2)})
    for scope, net in (('critic', gan.critic), ('rl_value/critic', gan.value)):
        names.update({**tower(scope, net.tower), **dense(f'{scope}/fully_connected', net.fc1),
                      **dense(f'{scope}/fully_connected_1', net.fc2)})
    names['mul_8/ExponentialMovingAverage/biased'] = gan.ema_biased
    names['mul_8/ExponentialMovingAverage/local_step'] = gan.ema_steps
    return names


def is_original_checkpoint(prefix):
    """True for a TF1 checkpoint of the original project (its names are scopes, not object paths)."""
    with reading(prefix):
        return any(name == 'generator/Conv/weights' for name, _ in tf.train.list_variables(prefix))


def load_original_checkpoint(gan, prefix):
    """Loads the original TF1 checkpoint (e.g. models/example/pretrained/model.ckpt-20000) by name."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise ValueError(f"{prefix}: cannot read a TF checkpoint here (need {prefix}.index and "
                         f"{prefix}.data-00000-of-00001): {e}") from None
    shapes = reader.get_variable_to_shape_map()
    wanted = original_variable_map(gan)
    missing = [n for n in wanted if n not in shapes]
    wrong = [f'{n} {shapes[n]} != {v.shape.as_list()}' for n, v in wanted.items()
             if n in shapes and list(shapes[n]) != v.shape.as_list()]
    if missing or wrong:
        problems = [f"{what}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
                    for what, items in (('missing', missing), ('wrong shapes', wrong)) if items]
        raise ValueError(f"{prefix}: not an original Exposure checkpoint for this config ({'; '.join(problems)})")
    with reading(prefix):
        for name, var in wanted.items():
            var.assign(reader.get_tensor(name))
