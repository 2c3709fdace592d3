"""Configs: plain modules config_<name>.py next to this file, read as namespaces, with `--key=value`
overrides and the values that follow from others; and the folder of a config's model.

Imports no TensorFlow (configs name their filters as strings), so the command lines can check a
config before paying for TensorFlow's start-up.
"""
import ast
import glob
import importlib
import json
import os
import sys
import types

from state import state_size

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))

# Config values whose type varies: the values they accept.
CHOICES = {'mixed_precision': (True, False, 'auto'), 'reward': ('critic', 'paired')}

# Values that follow from others, set after every change (overrides, a snapshot), so that e.g. a
# shorter --filters list sizes the networks for it. They are not overridable themselves.
DERIVED = {
    'num_state_dim': lambda cfg: state_size(len(cfg.filters)),
    # Noise size of the original; only z[:, 0] is used (action sampling).
    'z_dim': lambda cfg: 3 + len(cfg.filters) * cfg.z_dim_per_filter,
    # The actor's flattened features: four stride-2 convolutions, the last of 8 x base_channels.
    'feature_extractor_dims': lambda cfg: (cfg.source_img_size // 16) ** 2 * cfg.base_channels * 8,
}


def available_configs():
    return sorted(os.path.basename(p)[len('config_'):-3]
                  for p in glob.glob(os.path.join(PROJECT_DIR, 'config_*.py')))


def config_name(text):
    """'sintel', 'config_sintel' or 'config_sintel.py' (the file name, as a shell completes it) -> 'sintel'."""
    name = os.path.basename(text)
    name = name[:-3] if name.endswith('.py') else name
    return name[len('config_'):] if name.startswith('config_') else name


def model_dir(config, name, root='models'):
    """root/<config>/<name>, the folder of the model a command names. A name is a relative folder
    inside root/<config>/ ('mymodel', 'runs/a'): an empty or absolute name, a '..', or a link out of
    the folder is refused (ValueError), so that no command reads, lists or deletes anything else."""
    parent = os.path.join(root, config)
    if not name.strip():
        why = 'is empty'
    elif os.path.isabs(name):
        why = 'is an absolute path'
    elif '..' in name.replace(os.sep, '/').split('/'):
        why = "goes up with '..'"
    else:
        path = os.path.join(parent, os.path.normpath(name))
        real, real_parent = os.path.realpath(path), os.path.realpath(parent)
        if real == real_parent:
            why = f'names {parent}/ itself'
        elif os.path.commonpath([real, real_parent]) != real_parent:
            why = f'resolves to {real}, outside {parent}/'
        else:
            return path
    raise ValueError(f"model name {name!r} {why}: a model is a folder inside {parent}/, named like "
                     "'mymodel' or 'runs/mymodel'")


def derive(cfg):
    """Sets the DERIVED values from the others; returns cfg."""
    for key, rule in DERIVED.items():
        setattr(cfg, key, rule(cfg))
    return cfg


def load_config(name, overrides=()):
    """'example' -> a namespace of config_example's values, with `--key=value` overrides applied.

    Unknown names give a clear error listing the available configs. Each call returns a fresh
    namespace, so overrides never leak between loads.
    """
    if name not in available_configs():
        raise SystemExit(f"error: unknown config {name!r}: no config_{name}.py in {PROJECT_DIR}. "
                         f"Available configs: {', '.join(available_configs())}")
    if PROJECT_DIR not in sys.path:
        sys.path.insert(0, PROJECT_DIR)
    module = importlib.import_module(f'config_{name}')
    cfg = types.SimpleNamespace(**{k: v for k, v in vars(module).items() if not k.startswith('_')
                                   and not isinstance(v, (type, types.ModuleType, types.FunctionType))})
    cfg.config_name = name
    return apply_overrides(derive(cfg), overrides)


def checked_value(key, value, old):
    """value as config key takes it, whose config-file value is old (an int where a float belongs
    becomes a float, a list where a tuple belongs a tuple); ValueError saying why it cannot be."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise ValueError(f"{key} must be one of {', '.join(map(repr, CHOICES[key]))}")
        return value
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if old is not None and value is not None and not isinstance(value, type(old)) and key != 'filters':
        raise ValueError(f"{key} must be {type(old).__name__} (config value {old!r})")
    return value


def apply_overrides(cfg, overrides):
    """Applies ['--key=value', ...]; values are Python literals (strings may be bare). Then sets
    the derived values again."""
    for item in overrides:
        key, sep, text = item.lstrip('-').partition('=')
        if key in DERIVED:
            raise SystemExit(f"error: bad override {item!r}: {key} follows from the other values "
                             "(filters, z_dim_per_filter, source_img_size, base_channels); override those")
        if not sep or not hasattr(cfg, key):
            known = ', '.join(sorted(k for k in vars(cfg) if k not in DERIVED))
            raise SystemExit(f"error: bad override {item!r}: expected --key=value with a key of the "
                             f"config ({known})")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        try:
            setattr(cfg, key, checked_value(key, value, getattr(cfg, key)))
        except ValueError as e:
            raise SystemExit(f"error: override {item!r}: {e}")
    return derive(cfg)


def load_snapshot(path, name=None):
    """The config a model was trained with: its config.json (config_to_dict) over the values of
    config_<name>.py (name: the snapshot's own config_name unless given). A damaged file (not JSON, a
    value of the wrong type, an unknown filter) is a ValueError naming it and the fix."""
    import filters      # here, not at the top: it imports TensorFlow, which loading a config does not need
    again = 'copy it again from where the model came from'
    try:
        with open(path, 'rb') as f:
            saved = json.loads(f.read())
    except ValueError as e:             # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is damaged (not JSON: {e}); {again}") from None
    if not isinstance(saved, dict) or not isinstance(name or saved.get('config_name'), str):
        raise ValueError(f"{path} is damaged (not a model's settings); {again}")
    cfg = load_config(name or saved['config_name'])
    for key, value in saved.items():
        try:
            setattr(cfg, key, checked_value(key, value, getattr(cfg, key, None)))
        except ValueError as e:
            raise ValueError(f"{path} is damaged: {e}, not {value!r}; correct it, or {again}") from None
    names = cfg.filters if isinstance(cfg.filters, (list, tuple)) else [cfg.filters]
    unknown = [f for f in names if not isinstance(f, type) and not (isinstance(f, str) and f in filters.FILTERS)]
    if unknown:
        raise ValueError(f"{path} is damaged: unknown filter {unknown[0]!r} (known filters: "
                         f"{', '.join(filters.FILTERS)}); correct it, or {again}")
    return derive(cfg)


def config_to_dict(cfg):
    """JSON-ready snapshot of a config; filters are stored by name (a config of one's own may list
    the classes)."""
    out = {}
    for k, v in vars(cfg).items():
        if k == 'filters':
            v = [f if isinstance(f, str) else f.__name__ for f in v]
        out[k] = list(v) if isinstance(v, tuple) else v
    return out
