"""Recipes: made from a rollout, read back within bounds (size, nesting, steps, value types) and
checked against the filter settings of the config that made them."""
import json

import numpy as np
import pytest

import evaluate
import filters
import recipes
import configurator
from test_evaluate import refused, write_photo


def rollout(filter_list, chosen, batch=2, k=1):
    """A rollout as net.GAN.rollout returns it, whose image k takes the (filter index, parameters)
    `chosen`, one per step; the other images take filter 0 with zero parameters."""
    steps = []
    for a, params in chosen:
        action = np.zeros(batch, np.int64)
        action[k] = a
        per_filter = [np.zeros((batch, f.num_params), np.float32) for f in filter_list]
        per_filter[a][k] = params
        steps.append({'action': action, 'params': per_filter,
                      'pdf': np.full((batch, len(filter_list)), 1 / len(filter_list), np.float32)})
    return steps


def test_chosen_edits_are_image_ks_filter_and_parameters():
    cfg = configurator.load_config('example')
    filter_list = filters.build_filters(cfg)
    chosen = [(0, [0.5]), (3, [0.2])]
    steps = rollout(filter_list, [(a, np.float32(p)) for a, p in chosen])
    edits = recipes.chosen_edits(steps, 1)
    assert [a for a, _ in edits] == [0, 3]
    np.testing.assert_allclose(edits[0][1], [0.5])
    assert [a for a, _ in recipes.chosen_edits(steps, 0)] == [0, 0]


def test_a_recipe_is_checked_against_the_ranges_of_the_config_that_made_it(tmp_path):
    """A model trained with --exposure_range=5 and --curve_steps=4 writes edits that config_example's
    ranges refuse (+4.5 EV, tone curves of 4 pieces); its recipes replay."""
    cfg = configurator.load_config('example', ['--exposure_range=5', '--curve_steps=4'])
    filter_list = filters.build_filters(cfg)
    names = [type(f).__name__ for f in filter_list]
    exposure, tone = names.index('ExposureFilter'), names.index('ToneFilter')
    steps = rollout(filter_list, [(exposure, [4.5]), (tone, [1.5] * 4)])
    low_res = [np.full((64, 64, 3), 0.3, np.float32)] * 3
    recipe = recipes.make(str(tmp_path / 'a.png'), 'srgb', 'example/wide', 0, filter_list, steps, 1, low_res)
    path = tmp_path / 'a.png.steps.json'
    path.write_text(json.dumps(recipe))
    step_filters, edits, encoding = recipes.load(str(path))
    assert [type(f).__name__ for f in step_filters] == ['ExposureFilter', 'ToneFilter']
    assert step_filters[1].num_params == 4 and encoding == 'srgb'
    np.testing.assert_allclose(edits[0][1], [4.5])
    # The ranges are the recipe's own: +6 EV is outside even the wider config's.
    recipe['steps'][0]['parameters'] = [6.0]
    path.write_text(json.dumps(recipe))
    with pytest.raises(recipes.RecipeError, match="outside exposure's range -5 to 5"):
        recipes.load(str(path))


NESTED = '{"steps": ' + '[' * 100 + ']' * 100 + '}'
TOO_DEEP = '{"steps": ' + '[' * 600_000 + ']' * 600_000 + '}'      # 1.2 MB
MANY = json.dumps({'steps': [{'class': 'ExposureFilter', 'parameters': [0.1]}] * (recipes.MAX_STEPS + 1)})
LIST_CLASS = json.dumps({'steps': [{'class': ['ExposureFilter'], 'parameters': [0.5]}]})
BAD_SETTINGS = json.dumps({'filter_settings': {'curve_steps': 1e9},
                           'steps': [{'class': 'ExposureFilter', 'parameters': [0.5]}]})


@pytest.mark.parametrize('content, expected', [
    ('/dev/zero', 'is larger than 1024 KB'), (NESTED, 'nests 101 levels deep, a recipe 8 at most'),
    (TOO_DEEP, 'is larger than 1024 KB'), (TOO_DEEP[:300_000], 'nests too deeply'),
    (MANY, f'{recipes.MAX_STEPS + 1} steps, more than the {recipes.MAX_STEPS}'),
    (LIST_CLASS, "step 1: 'class' is a list, not a filter class name; give its 'class' as one of"),
    (BAD_SETTINGS, 'filter_settings curve_steps is 1000000000.0, not a value a config can have')])
def test_recipes_are_read_within_bounds(tmp_path, capsys, content, expected):
    if content == '/dev/zero':
        recipe = content
    else:
        recipe = tmp_path / 'bad.steps.json'
        recipe.write_text(content)
    photo = write_photo(tmp_path / 'a.png', 1)
    assert evaluate.main(['--recipe', str(recipe), photo, '--output-dir', str(tmp_path / 'out')]) == 2
    assert expected in refused(capsys)
    assert not (tmp_path / 'out').exists()


def test_a_recipe_run_given_a_config_and_model_says_it_takes_images_only(tmp_path, capsys):
    photo = write_photo(tmp_path / 'a.png', 1)
    with pytest.raises(SystemExit) as stop:
        evaluate.parse_args(['--recipe', 'edit.steps.json', 'sintel', 'pretrained', photo])
    assert stop.value.code == 2
    assert '--recipe takes images only: sintel pretrained looks like a config and a model' in capsys.readouterr().err


@pytest.mark.parametrize('size', ['100000', str(evaluate.MAX_BATCH + 1)])
def test_batch_size_is_bounded(size, capsys):
    with pytest.raises(SystemExit):
        evaluate.parse_args(['sintel', 'pretrained', 'a.png', '--batch-size', size])
    assert f'must be 1 to {evaluate.MAX_BATCH}' in capsys.readouterr().err
