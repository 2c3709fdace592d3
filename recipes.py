"""Edit recipes: the readable <name>.steps.json that evaluate.py writes for every photo (it replaces
the original's pickle, spec 8.3), and reading one back, every step checked, to re-apply it with
`evaluate.py --recipe`.

A recipe lists for each step the filter, its parameters in user units (EV, gamma, white-balance
multipliers, strengths, curve slopes), the policy's probabilities and the image statistics of the
agent's 64x64 view before and after; develop.Developer replays it on any image.
"""
import functools
import itertools
import json
import os

import numpy as np

import configurator
VERSION = 1


class RecipeError(Exception):
    """A recipe that cannot be read or re-applied; the message names the file, the step and the fix."""


def statistics(img):
    """The metric's statistics (image_io.image_statistics), rounded for the recipe."""
    import image_io
    return dict(zip(('luminance', 'contrast', 'saturation'),
                    (round(v, 4) for v in image_io.image_statistics(img))))


def make(path, encoding, model, seed, filters, steps, k, low_res):
    """The recipe of image k of a rollout (steps, as net.GAN.rollout returns them); low_res: its 64x64
    view before the first step and after each."""
    edits = [(int(s['action'][k]), s['params'][int(s['action'][k])][k], s['pdf'][k]) for s in steps]
    return from_edits(path, encoding, model, seed, filters, edits, low_res)


def from_edits(path, encoding, model, seed, filters, edits, low_res, made_by='agent'):
    """The recipe of edits [(filter index, user-unit parameters, policy probabilities or None for a
    step a person chose)]; made_by says who chose the steps (editor.MADE_BY)."""
    entries = []
    for i, (a, params, pdf) in enumerate(edits):
        f = filters[a]
        params = np.asarray(params, np.float64)
        entries.append({
            'step': i + 1, 'filter': f.name, 'short_name': f.short_name, 'class': type(f).__name__,
            'parameters': [round(float(v), 6) for v in params], 'label': f.label(params, short=False),
            'policy': None if pdf is None else {g.short_name: round(float(p), 5) for g, p in zip(filters, pdf)},
            'statistics_before': statistics(low_res[i]),
            'statistics_after': statistics(low_res[i + 1])})
    return {'version': VERSION, 'source': os.path.basename(path), 'model': model, 'seed': seed,
            'made_by': made_by, 'input_encoding': encoding,
            'note': 'parameters are in user units (EV, gamma, white-balance multipliers, strengths, '
                    'curve slopes); statistics are of the agent\'s 64x64 view',
            'steps': entries}


def load(path):
    """A saved <name>.steps.json, every step checked. -> (filters, edits, input encoding), one filter
    object per step and edits [(step index, user-unit parameters)], as develop.Developer takes them."""
    import filters
    import image_io
    try:
        with open(path) as f:
            recipe = json.load(f)
    except OSError as e:
        raise RecipeError(f"cannot read recipe {path}: {e.strerror}")
    except ValueError as e:
        raise RecipeError(f"recipe {path} is not valid JSON ({e}); give a <name>.steps.json that evaluate.py wrote")
    steps = recipe.get('steps') if isinstance(recipe, dict) else None
    if not isinstance(steps, list) or not steps:
        raise RecipeError(f"recipe {path}: no steps; expected a JSON object with a list 'steps' of "
                          "{'class': ..., 'parameters': [...]}, as evaluate.py writes it")
    cfg = configurator.load_config('example')            # the filters' ranges and curve sizes
    step_filters, edits = [], []
    for i, step in enumerate(steps, 1):
        name = step.get('class') if isinstance(step, dict) else None
        if name not in filters.FILTERS:
            raise RecipeError(f"recipe {path}, step {i}: unknown filter {name!r}; give its 'class' as one of "
                              f"{', '.join(filters.FILTERS)}")
        f = filters.FILTERS[name](cfg)
        problem = parameter_problem(f, step.get('parameters'))
        if problem:
            raise RecipeError(f"recipe {path}, step {i} ({f.name}): {problem}")
        step_filters.append(f)
        edits.append((i - 1, np.asarray(step['parameters'], np.float32)))
    encoding = recipe.get('input_encoding', 'auto')
    if encoding not in ('auto',) + image_io.ENCODINGS:
        raise RecipeError(f"recipe {path}: unknown input_encoding {encoding!r}; use one of "
                          f"{', '.join(('auto',) + image_io.ENCODINGS)}")
    return step_filters, edits, encoding


@functools.lru_cache(maxsize=64)     # per filter object: the editor checks every preview's steps
def parameter_bounds(f):
    """(low, high) of each of a filter's parameters: the extremes its parameters() reaches for this
    config, at pre-activations of +-30, where tanh and sigmoid are saturated in float32. Every corner
    of that box is tried for filters of up to 3 parameters (white balance normalizes its multipliers
    together); the curves' slopes are each a function of their own pre-activation, so the two
    uniform corners give their bounds."""
    import tensorflow as tf
    n = f.num_params
    corners = itertools.product((-30.0, 30.0), repeat=n) if n <= 3 else ([-30.0] * n, [30.0] * n)
    values = f.parameters(tf.constant(list(corners), tf.float32)).numpy()
    return values.min(axis=0), values.max(axis=0)


def parameter_problem(f, params):
    """What is wrong with a recipe step's parameters for filter f, with the fix; None if nothing."""
    if not isinstance(params, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in params):
        return f"'parameters' must be a list of numbers ({f.num_params} for {f.name}), not {params!r}"
    if len(params) != f.num_params:
        return (f"{len(params)} parameters, but {f.name} takes {f.num_params}; give exactly "
                f"{f.num_params}, as evaluate.py writes them")
    low, high = parameter_bounds(f)
    slack = 1e-5 * np.maximum(1.0, np.abs([low, high]))       # recipes round to 6 decimals
    for j, v in enumerate(params):
        if not (low[j] - slack[0][j] <= v <= high[j] + slack[1][j]):      # also catches NaN
            return (f"parameter {j + 1} is {v}, outside {f.name}'s range {low[j]:.6g} to {high[j]:.6g}; "
                    "give a finite value in that range")
    return None
