"""Edit recipes: the readable <name>.steps.json that evaluate.py writes for every photo (it replaces
the original's pickle, spec 8.3), and reading one back, every step checked, to re-apply it with
`evaluate.py --recipe`.

A recipe lists for each step the filter, its parameters in user units (EV, gamma, white-balance
multipliers, strengths, curve slopes), the policy's probabilities and the image statistics of the
agent's 64x64 view before and after; develop.Developer replays it on any image. It also records the
photo it was made for (full path, size, modification time: --skip-existing trusts a result only for
that photo) and the filter settings (ranges, curve steps) of the config that made it.
"""
import functools
import itertools
import json
import os

import numpy as np

import configurator
VERSION = 1
MAX_BYTES = 1 << 20     # a 5-step recipe is about 4 KB: a wrong file (/dev/zero, a photo) is not read whole
MAX_DEPTH = 8           # a recipe nests 3 levels (recipe > steps > step > parameters)
MAX_STEPS = 64          # the agent makes 5 steps; a hand-made recipe may chain more, not thousands
# The config values the filters read (filters.py): a recipe carries those of the config that made it
# and is checked against them, so a model trained with other ranges replays its own edits.
FILTER_SETTINGS = ('curve_steps', 'exposure_range', 'gamma_range', 'tone_curve_range', 'color_curve_range')


class RecipeError(Exception):
    """A recipe that cannot be read or re-applied; the message names the file, the step and the fix."""


def statistics(img):
    """The metric's statistics (image_io.image_statistics), rounded for the recipe."""
    import image_io
    return dict(zip(('luminance', 'contrast', 'saturation'),
                    (round(v, 4) for v in image_io.image_statistics(img))))


def chosen_edits(steps, k):
    """The edits chosen for image k of a rollout (steps, as net.GAN.rollout returns them): one
    (filter index, its user-unit parameters) per step, as develop.Developer takes them."""
    return [(int(s['action'][k]), np.asarray(s['params'][int(s['action'][k])][k])) for s in steps]


def input_record(path):
    """Which file a result was made from: its real full path, size and modification time (None if it
    cannot be read), so that a rerun tells another input of the same name from this one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {'path': os.path.realpath(path), 'size': st.st_size, 'mtime_ns': st.st_mtime_ns}


def step_entry(i, f, params):
    """Step i (0-based) of a recipe: filter f with user-unit parameters params."""
    params = np.asarray(params, np.float64)
    return {'step': i + 1, 'filter': f.name, 'short_name': f.short_name, 'class': type(f).__name__,
            'parameters': [round(float(v), 6) for v in params], 'label': f.label(params, short=False)}


def header(path, encoding, filters):
    """What every recipe starts with: its version, the photo it was made for and the filters' settings."""
    cfg = filters[0].cfg
    return {'version': VERSION, 'source': os.path.basename(path), 'input': input_record(path),
            'input_encoding': encoding,
            'filter_settings': {key: getattr(cfg, key) for key in FILTER_SETTINGS}}


def make(path, encoding, model, seed, filters, steps, k, low_res):
    """The recipe of image k of a rollout (steps, as net.GAN.rollout returns them); low_res: its 64x64
    view before the first step and after each."""
    edits = [(a, params, s['pdf'][k]) for s, (a, params) in zip(steps, chosen_edits(steps, k))]
    return from_edits(path, encoding, model, seed, filters, edits, low_res)


def from_edits(path, encoding, model, seed, filters, edits, low_res, made_by='agent'):
    """The recipe of edits [(filter index, user-unit parameters, policy probabilities or None for a
    step a person chose)]; made_by says who chose the steps (editor.MADE_BY)."""
    entries = []
    for i, (a, params, pdf) in enumerate(edits):
        entries.append({
            **step_entry(i, filters[a], params),
            'policy': None if pdf is None else {g.short_name: round(float(p), 5) for g, p in zip(filters, pdf)},
            'statistics_before': statistics(low_res[i]),
            'statistics_after': statistics(low_res[i + 1])})
    return {**header(path, encoding, filters), 'model': model, 'seed': seed, 'made_by': made_by,
            'note': 'parameters are in user units (EV, gamma, white-balance multipliers, strengths, '
                    'curve slopes); statistics are of the agent\'s 64x64 view',
            'steps': entries}


def applied(recipe_path, path, encoding, step_filters, edits):
    """The recipe of a photo retouched with `evaluate.py --recipe recipe_path`: the same steps, and
    which photo they were applied to."""
    return {**header(path, encoding, step_filters), 'applied_recipe': os.path.abspath(recipe_path),
            'steps': [step_entry(i, f, params) for i, (f, (_, params)) in enumerate(zip(step_filters, edits))]}


def depth(obj):
    """How deep lists and objects nest in a parsed JSON value (a number or string is 0)."""
    deepest, level = 0, [(obj, 0)]
    while level:
        value, d = level.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, d + 1)
            level += [(v, d + 1) for v in (value.values() if isinstance(value, dict) else value)]
    return deepest


def read(path):
    """A recipe file's JSON object, read with a size cap; RecipeError naming the file otherwise."""
    try:
        with open(path, 'rb') as f:
            text = f.read(MAX_BYTES + 1)
    except OSError as e:
        import image_io
        raise RecipeError(f"cannot read recipe {path}: {image_io.reading_problem(path, e)}") from None
    if len(text) > MAX_BYTES:
        raise RecipeError(f"recipe {path} is larger than {MAX_BYTES // 1024} KB, far larger than any recipe; "
                          "give a <name>.steps.json that evaluate.py wrote")
    try:
        recipe = json.loads(text)
    except RecursionError:      # the parser gives up on deep nesting before MAX_DEPTH can be checked
        raise RecipeError(f"recipe {path} nests too deeply to be a recipe ({MAX_DEPTH} levels at most); give a "
                          "<name>.steps.json that evaluate.py wrote") from None
    except ValueError as e:
        raise RecipeError(f"recipe {path} is not valid JSON ({e}); give a <name>.steps.json that evaluate.py "
                          "wrote")
    if depth(recipe) > MAX_DEPTH:
        raise RecipeError(f"recipe {path} nests {depth(recipe)} levels deep, a recipe {MAX_DEPTH} at most; give a "
                          "<name>.steps.json that evaluate.py wrote")
    return recipe


def made_from(path):
    """The input record (input_record) of the recipe at path; None if it has none or is unreadable."""
    try:
        recipe = read(path)
    except RecipeError:
        return None
    record = recipe.get('input') if isinstance(recipe, dict) else None
    return record if isinstance(record, dict) else None


def settings_config(path, recipe):
    """config_example with the recipe's filter_settings (the config that made it); recipes written
    before they carried them were all made with config_example's."""
    cfg = configurator.load_config('example')
    settings = recipe.get('filter_settings', {})
    if not isinstance(settings, dict):
        raise RecipeError(f"recipe {path}: 'filter_settings' must be an object of {', '.join(FILTER_SETTINGS)}")
    for key, value in settings.items():
        if key not in FILTER_SETTINGS:
            continue
        if key == 'curve_steps':
            good = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64
        elif key.endswith('curve_range'):
            good = (isinstance(value, list) and len(value) == 2 and all(finite_number(v) for v in value)
                    and 0 < value[0] < value[1])
        else:
            good = finite_number(value) and value > 0
        if not good:
            raise RecipeError(f"recipe {path}: filter_settings {key} is {value!r}, not a value a config can "
                              f"have (config_example has {getattr(cfg, key)!r})")
        setattr(cfg, key, tuple(value) if isinstance(value, list) else value)
    return cfg


def finite_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def load(path):
    """A saved <name>.steps.json, every step checked against the filter settings of the config that
    made it. -> (filters, edits, input encoding), one filter object per step and edits [(step index,
    user-unit parameters)], as develop.Developer takes them."""
    import filters
    import image_io
    recipe = read(path)
    steps = recipe.get('steps') if isinstance(recipe, dict) else None
    if not isinstance(steps, list) or not steps:
        raise RecipeError(f"recipe {path}: no steps; expected a JSON object with a list 'steps' of "
                          "{'class': ..., 'parameters': [...]}, as evaluate.py writes it")
    if len(steps) > MAX_STEPS:
        raise RecipeError(f"recipe {path}: {len(steps)} steps, more than the {MAX_STEPS} a recipe may have")
    cfg = settings_config(path, recipe)
    step_filters, edits = [], []
    for i, step in enumerate(steps, 1):
        name = step.get('class') if isinstance(step, dict) else None
        if not isinstance(name, str) or name not in filters.FILTERS:
            what = f"unknown filter {name!r}" if isinstance(name, str) or name is None else \
                f"'class' is a {type(name).__name__}, not a filter class name"
            raise RecipeError(f"recipe {path}, step {i}: {what}; give its 'class' as one of "
                              f"{', '.join(filters.FILTERS)}")
        f = filters.FILTERS[name](cfg)
        problem = parameter_problem(f, step.get('parameters'))
        if problem:
            raise RecipeError(f"recipe {path}, step {i} ({f.name}): {problem}")
        step_filters.append(f)
        edits.append((i - 1, np.asarray(step['parameters'], np.float32)))
    encoding = recipe.get('input_encoding', 'auto')
    if not isinstance(encoding, str) or encoding not in ('auto',) + image_io.ENCODINGS:
        raise RecipeError(f"recipe {path}: unknown input_encoding {encoding!r:.40}; use one of "
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
