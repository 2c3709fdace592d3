"""FiveK configuration (spec section 2.2): linear ProPhoto inputs -> expert C look.

Plain Python: every name below is a hyper-parameter; `python train.py example NAME --key=value`
overrides any of them. Names follow the original config. Values that follow from these (num_state_dim
= 11, z_dim = 131, feature_extractor_dims = 4096) are set by configurator.DERIVED after every override.
"""

# --- Filters (the action set, by class name in filters.py; order defines filter ids 0..7: E, G, W, S+,
# T, Ct, BW, C)
filters = ['ExposureFilter', 'GammaFilter', 'ImprovedWhiteBalanceFilter', 'SaturationPlusFilter',
           'ToneFilter', 'ContrastFilter', 'WNBFilter', 'ColorFilter']
curve_steps = 8                    # pieces of the tone and colour curves
gamma_range = 3                    # gamma in [1/3, 3]
exposure_range = 3.5               # exposure in (-3.5, +3.5) EV
wb_range = 1.1                     # unused, as in the original (white balance log-range is fixed at 0.5)
color_curve_range = (0.90, 1.10)   # range of the colour-curve slopes
lab_curve_range = (0.90, 1.10)     # unused (no Lab filter)
tone_curve_range = (0.5, 2)        # range of the tone-curve slopes
masking = False                    # spatial masks off: the 6 mask outputs per head are unused
minimum_strength = 0.3             # mask only (inert)
maximum_sharpness = 1              # mask only (inert)
clamp = False                      # clip agent output to [0, 5] (off)

# --- RL
critic_logit_multiplier = 0.05     # reward = 0.05 * (D(s') - D(s))
discount_factor = 1.0              # gamma of the TD target
filter_usage_penalty = 1.0         # subtracted when a filter is used a second time
use_TD = True                      # actor loss uses the TD target q (else the immediate reward)
test_random_walk = False           # training visualization samples actions (True) or takes the argmax
replay_memory_size = 128           # pool of interleaved trajectories
maximum_trajectory_length = 7      # inert: trajectories always end at test_steps
over_length_keep_prob = 0.5        # inert
all_reward = 1.0                   # every step is rewarded
img_include_states = True          # state vector appended to the CNN input as constant planes
exploration = 0.05                 # policy = 0.95 softmax + 0.05 uniform
exploration_penalty = 0.05         # weight of the entropy penalty
early_stop_penalty = 1.0           # inert (multiplies an expression that is always 0)

# --- CNN
source_img_size = 64               # agent input resolution
base_channels = 32                 # channels of the first conv layer (doubling each layer)
dropout_keep_prob = 0.5            # dropout on the actor features, on at train AND test time
share_feed_dict = True             # unused
shared_feature_extractor = True    # one CNN for all filter heads; the selector has its own
fc1_size = 128                     # hidden FC width of every head
bnw = False                        # black-and-white mode (off: 3 channels)

# --- GAN
use_penalty = True                 # subtract the agent penalties from the reward
gan = 'w'                          # WGAN (the only supported kind)
giters = 1                         # generator updates per iteration
warmup_giters = 100                # generator rollouts at learning rate 0 at iteration 0 (fill the pool)
gradient_penalty_lambda = 10       # one-sided gradient penalty weight
citers = 5                         # critic updates per iteration
citers_initial = 100               # critic updates in the first iterations and every 500th
critic_initialization = 10         # number of first iterations that use citers_initial
citers_initial_interval = 500      # ... and every this many iterations
clamp_critic = 0.01                # weight clipping, unused while the gradient penalty is on
median_filter_size = 101           # window of the median losses in the log
z_type = 'uniform'                 # noise z ~ U[0, 1)
z_dim_per_filter = 16              # noise sizing; only z[:, 0] is used (action sampling)
test_steps = 5                     # every episode is exactly 5 steps
real_img_size = 64                 # target patch size
real_img_channels = 3

# --- Training
supervised = False                 # legacy path, unsupported
batch_size = 64
max_iter_step = 20000              # iterations 0..max_iter_step inclusive
seed = None                        # integer for repeatable training (the original set none)
mixed_precision = 'auto'           # bfloat16 convs/matmuls (float32 losses, optimizer, filters): True,
                                   # False, or 'auto' = bfloat16 only where this machine runs it faster

# --- Learning rates: lr(t) = base_lr * mul * lr_decay ** (lr_segments * t / max_iter_step)
lr_decay = 0.1
base_lr = 5e-5
lr_segments = 3
generator_lr_mul = 0.3             # actor: 1.5e-5 -> 1.5e-8
critic_lr_mul = 1                  # discriminator: 5e-5 -> 5e-8
parameter_lr_mul = 1               # multiplies the -q term of the actor loss (not a learning rate)
value_lr_mul = 10                  # value net: 10 x actor
adam_beta1 = 0.5
adam_beta2 = 0.9
adam_epsilon = 1e-8                # TF1's default (Keras' is 1e-7)

# --- Misc and visualization
num_samples = 64                   # fixed visualization batch
img_channels = 3
summary_freq = 100                 # TensorBoard scalars every N iterations
vis_draw_critic_scores = True      # overlay discriminator scores in visualizations
write_image_interval = 400         # training visualization every N iterations (incl. 0)
checkpoint_interval = 500          # checkpoint when (iter + 1) % N == 0 (only the newest is kept)
checkpoint_minutes = 10.0          # ... and when this long has passed since the last one (0: never);
                                   # Ctrl-C and kill save anyway, this bounds what a hard kill loses
actor_snapshot_interval = 0        # also keep the actor's weights every N iterations as actors/actor-N,
                                   # for a score curve (evaluate.py --step N); 0: never
realtime_vis = False               # unsupported (no display); kept for completeness

# --- Data. Inputs: the FiveK pack of fetch_fivek.py (linear ProPhoto 80x80 crops).
# Targets: expert C, display-encoded, no linearization (spec 7.3).
input_kind = 'fivek_pack'                                     # 'fivek_pack' or 'folder'
input_dir = 'data/fivek_dataset/sup_batched80aug_daylight'    # holds image_raw.npy
input_set = '2k_train'                                        # fold of the inputs
input_encoding = 'linear'                                     # the pack is already linearized
target_kind = 'fivek_expert'                                  # 'fivek_expert' or 'folder'
target_dir = 'data/artists/FiveK_C'
target_set = '2k_target'                                      # fold of the targets
target_encoding = 'display'
folds_dir = 'data/folds'                                      # FiveK fold lists
val_fraction = 0.0                 # folder data: fraction of the sorted files held out (a block)
val_first = None                   # file name starting the held-out block (None: the last files)
val_spread = False                 # hold out files evenly spread over the sorted list, not a block

# --- Reward. 'critic' is the spec's WGAN reward 0.05 (D(s') - D(s)), trained on unpaired targets: the
# default. 'paired', added for those who have before/after pairs (or good photos alone, degraded at
# random), rewards each step by how much closer it brought the image to its own target:
# paired_reward_per_db x the gain in PSNR (dB) at the agent's 64x64 resolution; no critic is trained.
# The sum of an episode's rewards telescopes to the final PSNR gain, the quantity the paired
# validation measures; 0.1 per dB makes a 10 dB correction worth 1, the size of the filter-reuse
# penalty, and keeps the value targets of order 1 like the critic reward's.
reward = 'critic'
paired_reward_per_db = 0.1
paired_mse_floor = 1e-4            # PSNR is capped at 40 dB, so near-perfect steps have bounded gradients

# --- Synthetic exposure errors (input_kind = 'synthetic'): each batch of good sRGB photo patches is
# degraded at random; ranges are uniform (gamma: log-uniform in [1/g, g]).
degrade_exposure = (-2.5, 2.5)     # EV in scene light, rendered by degrade_curve (data.py)
degrade_curve = 'clip'             # 'clip': values above display white clip; 'camera': a camera tone
                                   # curve with toe and highlight shoulder (data.camera_curve)
degrade_knee = (0.35, 0.85)        # 'camera': display-linear value where the shoulder starts
degrade_white = (1.5, 8.0)         # 'camera': scene value shown as display white (log-uniform): headroom
degrade_toe = (0.0, 0.6)           # 'camera': strength of the shadow toe
degrade_clip_fraction = 0.25       # 'camera': share of curves with no shoulder (white = 1), as phones clip
degrade_white_balance = 0.15       # ln of the per-channel gains (luminance kept): a colour cast
degrade_gamma = 1.15               # mild gamma on the encoded values
degrade_contrast = 0.1             # (x - 0.5) * (1 + c)
degrade_saturation = 0.15          # grey + (1 + s) (x - grey)
