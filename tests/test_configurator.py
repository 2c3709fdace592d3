"""configurator.py: values that follow from others are set after overrides and snapshots, so a
different --filters list (or base_channels) sizes the networks for it; config loading imports no
TensorFlow."""
import json
import subprocess
import sys

import numpy as np
import pytest

import configurator
from conftest import ROOT


def test_derived_values_follow_overrides_and_snapshots(tmp_path):
    cfg = configurator.load_config('example')
    assert (cfg.num_state_dim, cfg.z_dim, cfg.feature_extractor_dims) == (11, 131, 4096)   # spec 2.2's
    three = configurator.load_config('example', ['--filters=["ExposureFilter", "GammaFilter", "ToneFilter"]',
                                                 '--base_channels=8'])
    assert (three.num_state_dim, three.z_dim, three.feature_extractor_dims) == (6, 51, 1024)
    snapshot = tmp_path / 'config.json'
    snapshot.write_text(json.dumps(configurator.config_to_dict(three)))
    again = configurator.load_snapshot(str(snapshot))
    assert (again.num_state_dim, again.z_dim, again.feature_extractor_dims) == (6, 51, 1024)
    one = configurator.apply_overrides(again, ['--filters=["GammaFilter"]'])
    assert (one.num_state_dim, one.z_dim) == (4, 19)
    with pytest.raises(SystemExit, match='num_state_dim follows from the other values'):
        configurator.load_config('example', ['--num_state_dim=5'])


def test_networks_built_for_a_shorter_filter_list():
    import net
    cfg = configurator.load_config('example', ['--seed=0', '--base_channels=8',
                                               '--filters=["ExposureFilter", "GammaFilter", "ToneFilter"]'])
    gan = net.GAN(cfg)
    b = 2
    images = np.full((b, 64, 64, 3), 0.4, np.float32)
    step = gan.rollout(images, steps=1, seed=0)[0]                          # actor, critic and value
    assert step['pdf'].shape == (b, 3) and step['states'].shape == (b, 6) and step['value'].shape == (b,)
    assert gan.actor.features.convs[0].kernel.shape[2] == 3 + 6            # image + state planes
    assert gan.actor.selector_fc1.kernel.shape[0] == 4 * 4 * 64            # the tower's flattened output
    assert gan.value.input_channels == 3 + 6 + 3
    noise = np.zeros((b, cfg.z_dim), np.float32)
    gan.actor_step(images, step['states'], noise, 1e-5, 1e-5, 0.0)      # an update at these sizes


def test_loading_a_config_imports_no_tensorflow():
    code = ('import sys, configurator; configurator.load_config("sintel", ["--batch_size=2"]); '
            'print("tensorflow" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'
