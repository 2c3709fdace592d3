"""A trained model's folder, models/<config>/<name>: where it is found, which checkpoint is loaded
for retouching, and the statistics of the inputs it was trained on (input_domain.json)."""
import json
import os

import configurator
import domain


class ModelError(Exception):
    """A model that cannot be found or loaded; the message names the folder and the fix."""


def model_places(config, name):
    """Where models/<config>/<name> is looked for: below the working directory, then the project."""
    places = [configurator.model_dir(config, name, root) for root in ('models', os.path.join(configurator.PROJECT_DIR, 'models'))]
    return places[:1] if os.path.realpath(places[0]) == os.path.realpath(places[1]) else places


def find_model(config, name):
    """The folder of models/<config>/<name>, or ModelError listing the models there are."""
    if config not in configurator.available_configs():
        raise ModelError(f"unknown config {config!r}; available configs: {', '.join(configurator.available_configs())} "
                         f"(config_<name>.py in {configurator.PROJECT_DIR})")
    try:
        places = model_places(config, name)
    except ValueError as e:
        raise ModelError(str(e))
    for place in places:
        if os.path.isdir(place):
            return place
    have = []
    for place in places:
        root = os.path.dirname(place)
        models = sorted(os.listdir(root)) if os.path.isdir(root) else []
        have.append(f"{root}/: {', '.join(models) if models else 'no models'}")
    raise ModelError(f"no trained model {config}/{name}: looked in {' and '.join(p + '/' for p in places)} "
                     f"({'; '.join(have)}). Train one with `python train.py {config} {name}`, or for the "
                     "original authors' FiveK model run `python fetch_fivek.py --pretrained` and use "
                     "`example pretrained`.")


def load_model(config, name, step):
    """GAN restored from a full checkpoint, an actor-only export, or an original TF1 checkpoint.
    -> (gan, cfg, model folder, description of what was loaded)."""
    import tensorflow as tf     # here: finding a model or reading its domain does not need TensorFlow
    import net
    model_dir = find_model(config, name)
    snapshot = os.path.join(model_dir, 'config.json')
    try:
        cfg = configurator.load_snapshot(snapshot, config) if os.path.exists(snapshot) else configurator.load_config(config)
    except ValueError as e:
        raise ModelError(str(e))
    gan = net.GAN(cfg, training=False)
    # {step: prefix}: full checkpoints (ours or the original's), then a run's kept actors (actors/actor-N)
    available = {**net.checkpoint_steps(os.path.join(model_dir, 'actors')), **net.checkpoint_steps(model_dir)}
    actor = os.path.join(model_dir, 'actor')
    if step is not None and step not in available:
        steps = ', '.join(map(str, sorted(available))) or 'none'
        raise ModelError(f"{model_dir}/ has no checkpoint for step {step}; available steps: {steps}")
    if step is None and not available and not os.path.exists(actor + '.index'):
        raise ModelError(f"{model_dir}/ holds no checkpoint yet; train it with `python train.py {config} {name}`")
    prefix = available[max(available) if step is None else step] if available else actor
    try:
        if net.is_original_checkpoint(prefix):
            net.load_original_checkpoint(gan, prefix)
            source = f'original TF1 checkpoint {os.path.basename(prefix)}'
        else:
            gan.load_actor(prefix)          # inference needs only the agent
            source = (f'checkpoint at iteration {step or max(available)}' if available
                      else 'actor weights')
    except (ValueError, FileNotFoundError, tf.errors.OpError) as e:
        raise ModelError(f"cannot load {model_dir}: {e}")
    return gan, cfg, model_dir, source


def read_domain(model_dir):
    """The statistics of the model's training inputs (input_domain.json), or None if not recorded."""
    path = os.path.join(model_dir, 'input_domain.json')
    if not os.path.exists(path):
        return None
    try:
        with open(path, 'rb') as f:
            found = json.loads(f.read())
    except ValueError:      # not JSON (or not UTF-8)
        found = None
    if isinstance(found, dict) and domain.is_valid(found):
        return found
    raise ModelError(f"{path} is damaged; copy it again with the model, or delete it (photos far outside the "
                     "training inputs are then not warned about)")
