"""A model's input domain: what its training inputs looked like to the agent (input_domain.json next
to the model), so evaluation can warn about a photo unlike all of them.

Recorded: three statistics of the agent's 64x64 view (image_io.image_statistics: brightness, contrast,
saturation) of up to 2,000 training inputs, their percentiles, and EDGE below. A photo warns when it
- is flat (contrast under FLAT as shown on a screen): a black or white frame gives global edits
  nothing to work with, whatever the model;
- is colourless (saturation under COLOURLESS) where 99.5% of the training inputs had colour;
- is far from every training input: the distance to its NEIGHBOURS-th nearest one, each statistic
  in units of its 5-95% spread, exceeds MARGIN times the distance within which 99.5% of the
  training inputs have as many neighbours of their own (EDGE).

Why not a range per statistic: by construction 1% of the model's own inputs fall outside the range
of 99% of them, and on the Sintel model's held-out frames such ranges warned about ordinary frames
just past an edge, while a photo of another kind can sit inside every range and yet be unlike any
training input in the combination (bright and contrasty). With the rule above, the Sintel model's 85
held-out frames are quiet (the farthest at 1.23 edges), its flat training frames warn, and so do 84%
of 290 ordinary photos (`python bench/domain_warning.py` prints these counts).
"""
import numpy as np

STATISTICS = ('brightness', 'contrast', 'saturation')    # image_io.image_statistics, in order
PERCENTILES = (0.5, 5, 50, 95, 99.5)
SAMPLES = 2000          # training inputs recorded
NEIGHBOURS = 5          # the k of the k-th nearest training input: one odd twin does not hide a photo
MARGIN = 1.5            # a clear margin: the Sintel model's held-out frames reach 1.23 (module doc)
FLAT = 0.01             # contrast (2 x the luminance's standard deviation) of a nearly one-colour image
COLOURLESS = 0.01       # mean saturation of a black-and-white photo (JPEG noise stays under it)
DISPLAY_GAMMA = 2.2     # linear views are judged flat as a screen shows them


def record(cfg, provider, count=SAMPLES):
    """The domain of a provider's inputs as the agent sees them: 64x64 patches after the encoding (and
    a synthetic degradation), from a random draw of its own (training's draws are not changed)."""
    import data
    import image_io
    rng = np.random.default_rng(0)
    rows = np.sort(provider.index[rng.choice(len(provider), min(count, len(provider)), replace=False)])
    m = (provider.patches.shape[1] - data.PATCH_SIZE) // 2
    patches = np.asarray(provider.patches[rows][:, m:m + data.PATCH_SIZE, m:m + data.PATCH_SIZE], np.float32)
    if provider.transform is not None:
        patches = provider.transform(patches, rng)
    return from_statistics([image_io.image_statistics(p[..., :3]) for p in patches], cfg.input_encoding)


def from_statistics(stats, encoding):
    """The domain (input_domain.json's content) of training inputs with these statistics."""
    stats = np.asarray(stats, np.float64)
    domain = {'encoding': encoding, 'patches': len(stats), 'percentiles': list(PERCENTILES)}
    for k, name in enumerate(STATISTICS):
        domain[name] = [round(float(v), 4) for v in np.percentile(stats[:, k], PERCENTILES)]
    stats = np.round(stats, 4)          # as stored: EDGE is measured on what check will read
    domain['statistics'] = stats.tolist()
    domain['neighbours'] = min(NEIGHBOURS, len(stats) - 1)
    if domain['neighbours'] >= 1:
        domain['edge'] = round(float(np.percentile(_neighbour_distances(domain, stats, own=True), 99.5)), 6)
    return domain


def _spread(domain):
    """Each statistic's 5-95% spread: the unit of distance (at least 0.01, for a constant statistic)."""
    return np.array([max(domain[name][3] - domain[name][1], 0.01) for name in STATISTICS])


def _neighbour_distances(domain, points, own=False):
    """The distance of each point (n, 3) to its domain['neighbours']-th nearest training input; own:
    the points are the training inputs themselves, each not counted as its own neighbour."""
    samples, spread, k = np.asarray(domain['statistics']), _spread(domain), domain['neighbours']
    out = []
    for start in range(0, len(points), 256):       # 256 x 2,000 distances at a time
        d = np.sqrt((((points[start:start + 256, None] - samples[None]) / spread) ** 2).sum(-1))
        if own:
            d[np.arange(len(d)), start + np.arange(len(d))] = np.inf
        out.append(np.partition(d, k - 1, axis=1)[:, k - 1])
    return np.concatenate(out)


class Finding:
    """Why a photo is unlike a model's training inputs. kind: 'flat', 'colourless' or 'far'; values: its
    statistics; edges: how far, in EDGEs (or, for a domain without statistics, in tail widths past the
    99% range); outside: (name, value, low, high) of each statistic outside the range of 99% of the
    training inputs; encoding: the model's."""

    def __init__(self, kind, values, edges, outside, encoding, by_range=False):
        self.kind, self.values, self.edges, self.outside = kind, values, edges, outside
        self.encoding, self.by_range = encoding, by_range

    def describe(self, model):
        """The warning for a photo given to `model` (config/name)."""
        stats = ', '.join(f'{name} {value:.2f}' for name, value in zip(STATISTICS, self.values))
        advice = ("The result may be poor: try a model trained on photos like this one (README: which model "
                  "for which photos)")
        if self.kind == 'flat':
            return f"a flat image ({stats}): global edits have almost nothing to work with. The result may be poor"
        if self.kind == 'colourless':
            return (f"far outside what {model} was trained on: a black-and-white photo ({stats}), and the model "
                    f"learned from colour images. {advice}")
        ranges = [f"{name} {value:.2f} (99% of its training inputs: {low:.2f}-{high:.2f})"
                  for name, value, low, high in self.outside]
        if self.by_range:
            how = f"{'; '.join(ranges)}: {self.edges:.2f} tail widths past that range (warns above {MARGIN})"
        else:
            how = (f"{stats}: {self.edges:.2f} times as far from its nearest training inputs as 99.5% of those "
                   f"inputs are from theirs (warns above {MARGIN})" + ''.join(f"; {r}" for r in ranges))
        return (f"far outside what {model} was trained on: {how}. {advice}, or --encoding if the file's values "
                f"are not {self.encoding!r} as the model expects")


def check(domain, view):
    """A Finding if the agent's view of a photo (64x64, the model's encoding) is unlike the model's
    training inputs, else None."""
    import image_io
    values = np.array(image_io.image_statistics(view))
    outside = [(name, value, domain[name][0], domain[name][-1]) for name, value in zip(STATISTICS, values)
               if not domain[name][0] <= value <= domain[name][-1]]
    encoding = domain['encoding']
    # A display-encoded view is already as shown; a linear one is judged as a screen would show it.
    shown_contrast = (values[1] if encoding == 'display' else
                      image_io.image_statistics(np.clip(view, 0, 1) ** (1 / DISPLAY_GAMMA))[1])
    if shown_contrast < FLAT:
        return Finding('flat', values, None, outside, encoding)
    if values[2] < COLOURLESS <= domain['saturation'][0]:
        return Finding('colourless', values, None, outside, encoding)
    edges = distance(domain, values)
    return Finding('far', values, edges, outside, encoding, 'edge' not in domain) if edges > MARGIN else None


def distance(domain, values):
    """How far statistics `values` are from the training inputs: in EDGEs, or for a domain recorded before
    the statistics were kept, in tail widths past the range of 99% of them (0 inside it)."""
    if 'edge' in domain:
        return float(_neighbour_distances(domain, np.asarray(values, np.float64)[None])[0]) / max(domain['edge'], 1e-9)
    return max([0.0] + [_tail_widths(domain, name, value) for name, value in zip(STATISTICS, values)])


def _tail_widths(domain, name, value):
    """How far a value is past the 0.5-99.5% range, in units of that tail's own width (0.5-5% or 95-99.5%)."""
    p = domain[name]
    if value < p[0]:
        return (p[0] - value) / max(p[1] - p[0], 1e-4)
    return max(value - p[4], 0.0) / max(p[4] - p[3], 1e-4)


def is_valid(domain):
    """Whether a loaded input_domain.json holds what record writes (the statistics are optional:
    domains recorded before they were kept are checked by their ranges)."""
    try:
        ranges = [[float(v) for v in domain[name]] for name in STATISTICS]
        ok = all(len(r) == len(PERCENTILES) for r in ranges) and isinstance(domain['encoding'], str)
        if 'edge' in domain:
            samples = np.asarray(domain['statistics'], np.float64)
            ok = ok and samples.ndim == 2 and samples.shape[1] == 3 and np.isfinite(samples).all() \
                and 1 <= int(domain['neighbours']) < len(samples) and float(domain['edge']) >= 0
        return bool(ok)
    except (ValueError, TypeError, KeyError):
        return False
