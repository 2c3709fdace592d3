"""The networks' building blocks (spec 4.2, 4.4): the leaky ReLU, Xavier-uniform initialization,
fully connected and 4x4 stride-2 convolution layers, the four-layer convolution tower that the actor
and the critic share in shape, and the convolutions' gradients with the tuner that picks the faster
way to compute them on this machine.

Layers are tf.Modules over plain tf.Variables so tf.train.Checkpoint tracks every weight (Keras 3
layers kept in Python lists are invisible to it) and the original TF1 names map onto them one to one
(net.original_variable_map). Under mixed precision the convolutions and matrix products run in
bfloat16 while the variables, inputs and outputs stay float32.
"""
import math
import os
import time

import tensorflow as tf


@tf.custom_gradient
def lrelu(x):
    """The original's 0.6x + 0.4|x|, i.e. leaky ReLU with slope 0.2, with its derivative read off the
    output (which has the input's sign) by three element-wise ops, which made a training iteration
    faster than TensorFlow's own gradient (its LeakyReluGrad kernel) in float32 and bfloat16
    (docs/PERFORMANCE.md). Same values at every order (tests/test_agent.py)."""
    y = tf.nn.leaky_relu(x, alpha=0.2)

    def grad(dy):
        return dy * tf.where(y > 0, tf.constant(1, dy.dtype), tf.constant(0.2, dy.dtype))
    return y, grad


def glorot_uniform(rng, shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(shape, -limit, limit)


class Dense(tf.Module):
    """fully_connected: x W + b with Xavier-uniform W and zero b; kernel layout [in, out]."""

    def __init__(self, units_in, units_out, rng, compute_dtype=tf.float32, name=None, weight_dtype=tf.float32):
        super().__init__(name=name)
        kernel = glorot_uniform(rng, [units_in, units_out], units_in, units_out)
        self.kernel = tf.Variable(tf.cast(kernel, weight_dtype), name='weights')
        self.bias = tf.Variable(tf.zeros([units_out], weight_dtype), name='biases')
        self.compute_dtype = compute_dtype

    def __call__(self, x):
        d = self.compute_dtype
        return tf.matmul(tf.cast(x, d), tf.cast(self.kernel, d)) + tf.cast(self.bias, d)


# The convolutions' gradients, two ways. Both gradients of a 4x4 stride-2 convolution are convolutions of
# their own: output pixel (2m+p, 2n+q) of the padded input gradient sums dy[m-a, n-b] against tap
# (2a+p, 2b+q), a stride-1 2x2 convolution of dy whose 4 x C output channels (p, q, c) depth_to_space
# interleaves; the filter gradient is a stride-1 convolution too (filter_gradient). Same sums as
# TensorFlow's gradient kernels in another order, so the results agree to round-off at every order
# (tests/test_agent.py). Which is faster depends on the CPU and the shape (bench/train_step.py --convs):
# on an AVX2 CPU TensorFlow's (oneDNN's) gradient kernels ran far below its forward kernel at the deep
# layers and the forward form made an iteration faster; on an AVX-512 CPU (AMD Zen 4) TensorFlow's
# kernels won at most shapes and the forward form at a few (the first layer's input gradient, the last
# layer's filter gradient; docs/PERFORMANCE.md has the figures). So
# tune_gradients() times both at the networks' shapes when training starts and GRADIENT_KERNELS keeps the
# faster, by (gradient, input height, width, channels, output channels, dtype); shapes never timed use
# the forward form. The gradient penalty differentiates the input gradient once more; in the forward
# form its derivatives are conv() and a filter gradient again, so the functions name their gradients and
# the choice holds for every derivative training takes (TensorFlow's input-gradient kernel brings
# TensorFlow's own derivatives). Both ways sum bfloat16 products in float32 where the CPU has bfloat16
# units, so both are equally accurate (without such units 'auto' picks float32).
# EXPOSURE_CONV_GRADIENTS=forward|tensorflow forces one way everywhere.
GRADIENT_KERNELS = {}
GRADIENT_WAYS = ('forward', 'tensorflow')


def gradient_way(gradient, x, kernel):
    """'forward' or 'tensorflow': how conv(x, kernel) computes its 'input' or 'filter' gradient."""
    forced = os.environ.get('EXPOSURE_CONV_GRADIENTS')
    if forced:
        if forced not in GRADIENT_WAYS:
            raise ValueError(f"EXPOSURE_CONV_GRADIENTS={forced!r}: use forward or tensorflow")
        return forced
    key = (gradient, *x.shape[1:].as_list(), kernel.shape[3], x.dtype.name)
    return GRADIENT_KERNELS.get(key, 'forward')


def spatial_size(t):
    """(height, width) of t (B, H, W, C): Python ints where known when tracing (the training steps'
    signatures fix them, which keeps shape arithmetic out of their graphs), tensors where not."""
    return [t.shape[i] if t.shape[i] is not None else tf.shape(t)[i] for i in (1, 2)]


STRIDE_2 = dict(strides=[1, 2, 2, 1], padding='SAME')


def conv(x, kernel):
    """tf.nn.conv2d(x, kernel, strides=2, padding='SAME') for a 4x4 kernel, with the gradients above."""
    @tf.custom_gradient
    def forward(x, kernel):
        def grad(dy):
            if gradient_way('input', x, kernel) == 'tensorflow':
                dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                                                    **STRIDE_2)
            else:
                dx = conv_transpose(dy, kernel, spatial_size(x))
            return dx, kernel_gradient(x, kernel, dy)
        return tf.nn.conv2d(x, kernel, strides=2, padding='SAME'), grad
    return forward(x, kernel)


def conv_transpose(dy, kernel, size):
    """The input gradient of conv() in the forward form: dy (B, h, w, out) -> (B, H, W, in), size = (H, W)."""
    @tf.custom_gradient
    def transpose(dy, kernel):
        channels_in, channels_out = kernel.shape[2], kernel.shape[3]
        taps = tf.reverse(tf.reshape(kernel, [2, 2, 2, 2, channels_in, channels_out]), [0, 2])  # (a, p, b, q)
        taps = tf.reshape(tf.transpose(taps, [0, 2, 5, 1, 3, 4]), [2, 2, channels_out, 4 * channels_in])
        y = tf.nn.conv2d(tf.pad(dy, [[0, 0], [1, 1], [1, 1], [0, 0]]), taps, strides=1, padding='VALID')
        # SAME padding put one row and column before the input (and one or two after): crop them.
        dx = tf.nn.depth_to_space(y, 2)[:, 1:1 + size[0], 1:1 + size[1]]

        def grad(g):
            return conv(g, kernel), kernel_gradient(g, kernel, dy)
        return dx, grad
    return transpose(dy, kernel)


def kernel_gradient(x, kernel, dy):
    """The kernel gradient of conv(x, kernel) for the output gradient dy, the way gradient_way() says."""
    if gradient_way('filter', x, kernel) == 'tensorflow':
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, **STRIDE_2)
    return filter_gradient(x, kernel, dy)


def filter_gradient(x, kernel, dy):
    """The kernel gradient of conv() in the forward form: tap (2a+p, 2b+q) sums x[2i+2a+p-1, 2j+2b+q-1]
    dy[i, j] over images and positions, which is a stride-1 convolution of the padded, space-to-depth
    input with dy as the kernel once images and channels swap roles."""
    channels_in, channels_out = kernel.shape[2], kernel.shape[3]
    (height, width), (x_height, x_width) = spatial_size(dy), spatial_size(x)
    # Pad to exactly 2h + 2 rows and 2w + 2 columns (SAME put 1 before and 1 or 2 after).
    x = tf.pad(x, [[0, 0], [1, 2 * height + 1 - x_height], [1, 2 * width + 1 - x_width], [0, 0]])
    planes = tf.transpose(tf.nn.space_to_depth(x, 2), [3, 1, 2, 0])        # ((p, q, c), h + 1, w + 1, B)
    taps = tf.nn.conv2d(planes, tf.transpose(dy, [1, 2, 0, 3]), strides=1, padding='VALID')  # (4 in, 2, 2, out)
    taps = tf.transpose(tf.reshape(taps, [2, 2, channels_in, 2, 2, channels_out]), [3, 0, 4, 1, 2, 5])
    return tf.reshape(taps, [4, 4, channels_in, channels_out])


def gradient_passes(x, kernel, dy):
    """{(gradient, way): function} for conv(x, kernel)'s input and filter gradients given dy."""
    return {('input', 'tensorflow'): lambda: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=x.shape, filter=kernel, out_backprop=dy, **STRIDE_2),
            ('input', 'forward'): lambda: conv_transpose(dy, kernel, x.shape[1:3]),
            ('filter', 'tensorflow'): lambda: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=kernel.shape, out_backprop=dy, **STRIDE_2),
            ('filter', 'forward'): lambda: filter_gradient(x, kernel, dy)}


def median_ms(fn, repeats):
    """Median wall-clock milliseconds of fn() (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return sorted(times)[len(times) // 2]


def tune_gradients(shapes, batch, dtype, repeats=7):
    """Times both ways of each gradient at each (height, width, channels in, channels out) in shapes,
    batch images of `dtype`, and keeps the faster in GRADIENT_KERNELS. Returns one line for the log."""
    if os.environ.get('EXPOSURE_CONV_GRADIENTS'):
        return f"convolution gradients: {os.environ['EXPOSURE_CONV_GRADIENTS']} (EXPOSURE_CONV_GRADIENTS)"
    rng = tf.random.Generator.from_seed(0)
    chosen = []
    for height, width, channels_in, channels_out in shapes:
        x = tf.cast(rng.uniform([batch, height, width, channels_in]), dtype)
        kernel = tf.cast(rng.uniform([4, 4, channels_in, channels_out]), dtype)
        dy = tf.cast(rng.uniform([batch, (height + 1) // 2, (width + 1) // 2, channels_out]), dtype)
        ms = {}
        for (gradient, way), fn in gradient_passes(x, kernel, dy).items():
            fn = tf.function(fn, autograph=False)
            fn().numpy()                                        # trace and warm up
            ms[gradient, way] = median_ms(lambda: fn().numpy(), repeats)
        ways = []
        for gradient in ('input', 'filter'):
            way = min(GRADIENT_WAYS, key=lambda w: ms[gradient, w])
            GRADIENT_KERNELS[gradient, height, width, channels_in, channels_out, dtype.name] = way
            ways.append(f"{gradient} {way} ({ms[gradient, 'forward']:.1f}/{ms[gradient, 'tensorflow']:.1f})")
        chosen.append(f"{channels_in}->{channels_out} at {height}x{width} " + ', '.join(ways))
    return (f"convolution gradients, the faster way at each shape (ms forward/tensorflow, batch {batch}, "
            f"{dtype.name}): " + '; '.join(chosen))


def tower_shapes(image_size, base_channels):
    """(height, width, channels in, channels out) of each convolution of a ConvTower on RGB images of
    image_size (its first layer convolves the 3 image channels; the planes' response is computed apart)."""
    widths = [3] + [base_channels * 2 ** i for i in range(4)]
    return [(image_size // 2 ** i, image_size // 2 ** i, a, b) for i, (a, b) in enumerate(zip(widths, widths[1:]))]


class Conv(tf.Module):
    """conv2d 4x4, stride 2, SAME padding, Xavier-uniform kernel [kh, kw, in, out], zero bias."""

    def __init__(self, channels_in, channels_out, rng, compute_dtype=tf.float32, name=None,
                 weight_dtype=tf.float32):
        super().__init__(name=name)
        shape = [4, 4, channels_in, channels_out]
        kernel = glorot_uniform(rng, shape, 16 * channels_in, 16 * channels_out)
        self.kernel = tf.Variable(tf.cast(kernel, weight_dtype), name='weights')
        self.bias = tf.Variable(tf.zeros([channels_out], weight_dtype), name='biases')
        self.compute_dtype = compute_dtype

    def __call__(self, x, planes=None):
        """Convolves x (B, H, W, C), or x with K constant planes appended as channels C..C+K-1 when
        planes (B, K) holds their per-image values.

        The planes are never built: a constant plane's response is, at each output position, its value
        times the sum of the kernel taps that fall inside the image (SAME padding drops some at the
        border). Those sums are the same for every image, so one convolution of a ones image gives them
        and a matrix product weights them per image. Same result as the concatenation, with the first
        layer's work cut to the image channels (the actor and value nets have 11-14 planes).
        """
        d = self.compute_dtype
        kernel = tf.cast(self.kernel, d)
        channels = x.shape[-1]
        y = conv(tf.cast(x, d), kernel[:, :, :channels])
        if planes is not None:
            k, channels_out = planes.shape[-1], kernel.shape[-1]
            taps = tf.reshape(kernel[:, :, channels:], [4, 4, 1, k * channels_out])
            ones = tf.ones([1, tf.shape(x)[1], tf.shape(x)[2], 1], d)
            response = conv(ones, taps)[0]      # (H', W', K * out)
            response = tf.reshape(response, [tf.shape(y)[1], tf.shape(y)[2], k, channels_out])
            y += tf.einsum('bk,hwko->bhwo', tf.cast(planes, d), response)
        return tf.nn.bias_add(y, tf.cast(self.bias, d))


class ConvTower(tf.Module):
    """Four conv + lrelu layers, 32/64/128/256 channels (64x64 -> 4x4), flattened row-major (H, W, C).

    The input is an image plus per-image values shown as constant planes (spec 4.4), all minus 0.5.
    """

    def __init__(self, channels_in, rng, compute_dtype=tf.float32, base_channels=32, name=None,
                 weight_dtype=tf.float32):
        super().__init__(name=name)
        widths = [channels_in] + [base_channels * 2 ** i for i in range(4)]
        self.convs = [Conv(a, b, rng, compute_dtype, name=f'Conv_{i}', weight_dtype=weight_dtype)
                      for i, (a, b) in enumerate(zip(widths, widths[1:]))]

    def __call__(self, images, planes):
        x = lrelu(self.convs[0](images - 0.5, planes - 0.5))
        for conv in self.convs[1:]:
            x = lrelu(conv(x))
        return tf.reshape(x, [tf.shape(x)[0], -1])
