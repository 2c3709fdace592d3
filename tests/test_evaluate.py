"""evaluate.py as a user runs it: a small freshly initialised model saved as a checkpoint, files,
folders and globs, every output, recipes re-applied, bad files skipped, nothing overwritten. Then the
fast full-resolution path against the plain one: within 1 level, any size, chunked or whole, and the
agent's low-res view exactly as before."""
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tifffile

import evaluate
import filters
import net
import util


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A project-like folder with models/sintel/tiny (a saved, untrained checkpoint) and photos."""
    root = tmp_path_factory.mktemp('eval')
    cfg = util.load_config('sintel', ['--seed=0'])
    gan = net.GAN(cfg)
    model_dir = root / 'models' / 'sintel' / 'tiny'
    manager = gan.make_manager(str(model_dir))
    manager.save(checkpoint_number=7)
    with open(model_dir / 'config.json', 'w') as f:
        json.dump(util.config_to_dict(cfg), f)
    photos = root / 'photos'
    photos.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(photos / 'a.tif', rng.integers(0, 65535, (50, 70, 3), dtype=np.uint16))
    cv2.imwrite(str(photos / 'b.png'), rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    cv2.imwrite(str(photos / 'c.jpg'), rng.integers(0, 255, (33, 47, 3), dtype=np.uint8))
    return root


def run(workspace, monkeypatch, argv):
    monkeypatch.chdir(workspace)
    return evaluate.main(argv)


def test_model_writes_all_outputs(workspace, monkeypatch, capsys):
    out = workspace / 'out_all'
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos', '--output-dir', str(out), '--seed', '1']) == 0
    for name in ['a.tif', 'b.png', 'c.jpg']:
        for suffix in ['retouched.png', 'linear.png', 'input_tone_mapped.png', 'steps.png', 'steps.json'] + \
                [f'intermediate{i:02d}.png' for i in range(4)]:
            assert (out / f'{name}.{suffix}').exists(), f'{name}.{suffix}'
    retouched = cv2.imread(str(out / 'a.tif.retouched.png'))
    assert retouched.shape == (50, 70, 3)                                     # full resolution
    recipe = json.load(open(out / 'a.tif.steps.json'))
    assert len(recipe['steps']) == 5
    step = recipe['steps'][0]
    assert set(step) >= {'filter', 'parameters', 'policy', 'statistics_before', 'statistics_after', 'label'}
    assert abs(sum(step['policy'].values()) - 1) < 1e-3 and len(step['policy']) == 8
    assert 'checkpoint at iteration 7' in capsys.readouterr().out


def test_seed_makes_output_repeatable(workspace, monkeypatch):
    outs = []
    for k, seed in enumerate(['3', '3', '4']):
        out = workspace / f'out_seed{k}'
        run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--output-dir', str(out),
                                     '--seed', seed, '--no-intermediates'])
        outs.append(json.load(open(out / 'a.tif.steps.json'))['steps'])
        assert not (out / 'a.tif.linear.png').exists()                        # --no-intermediates
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]                                                 # dropout stays on


def test_recipe_reapplies_the_same_edits(workspace, monkeypatch):
    first, second = workspace / 'out_r1', workspace / 'out_r2'
    run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', '--output-dir', str(first), '--seed', '2',
                                 '--format', 'png16'])
    assert run(workspace, monkeypatch, ['--recipe', str(first / 'b.png.steps.json'), 'photos/b.png',
                                        '--output-dir', str(second), '--format', 'png16']) == 0
    a = util.read_image(str(first / 'b.png.retouched.png'))
    b = util.read_image(str(second / 'b.png.retouched.png'))
    assert np.abs(a - b).max() <= 1 / 65535 + 1e-6


def test_glob_pattern_and_tiff16(workspace, monkeypatch):
    out = workspace / 'out_glob'
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/*.jpg', '--output-dir', str(out),
                                        '--format', 'tiff16', '--no-intermediates']) == 0
    img = tifffile.imread(out / 'c.jpg.retouched.tif')
    assert img.dtype == np.uint16 and img.shape == (33, 47, 3)


def test_bad_files_are_reported_and_skipped(workspace, monkeypatch, capsys):
    bad = workspace / 'bad'
    bad.mkdir()
    (bad / 'corrupt.jpg').write_text('not a jpeg')
    cv2.imwrite(str(bad / 'tiny.png'), np.zeros((1, 1, 3), np.uint8))
    nan = np.full((20, 20, 3), 0.5, np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(bad / 'nan.tif', nan, photometric='rgb')
    out = workspace / 'out_bad'
    code = run(workspace, monkeypatch, ['sintel', 'tiny', str(bad), 'photos/c.jpg', 'missing.png',
                                        '--output-dir', str(out), '--no-intermediates'])
    err = capsys.readouterr().err
    assert code == 1
    for name in ['corrupt.jpg', 'tiny.png', 'nan.tif', 'missing.png']:
        assert name in err
    assert (out / 'c.jpg.retouched.png').exists()


def test_refuses_to_overwrite_inputs(workspace, monkeypatch):
    victim = workspace / 'photos' / 'b.png.retouched.png'
    cv2.imwrite(str(victim), np.zeros((20, 20, 3), np.uint8))
    try:
        with pytest.raises(SystemExit, match='overwrite'):
            run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', 'photos/b.png.retouched.png',
                                         '--output-dir', 'photos'])
    finally:
        victim.unlink()


def test_missing_model_lists_what_exists(workspace, monkeypatch):
    with pytest.raises(SystemExit, match='tiny.*train.py'):
        run(workspace, monkeypatch, ['sintel', 'nothere', 'photos/a.tif'])
    with pytest.raises(SystemExit, match='available|Available'):
        run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--step', '99'])


# ----------------------------------------------------------------------------------------------
# The fast full-resolution path against the reference (float, filter by filter, then quantized)

FILTERS = filters.build_filters(util.load_config('example'))


def random_edits(rng, count=5):
    edits = []
    for index in rng.integers(0, len(FILTERS), count):
        f = FILTERS[index]
        raw = tf.constant(rng.normal(0, 1.5, (1, f.num_params)), tf.float32)
        edits.append((int(index), f.parameters(raw).numpy()[0]))
    return edits


def reference(path, encoding, edits):
    """The plain path: float image, linearized, each filter's process in turn; every step kept."""
    img = util.load_linear(path, encoding)
    linear, steps = img, []
    for index, params in edits:
        img = FILTERS[index].process(tf.constant(img[None]), tf.constant(params[None])).numpy()[0]
        steps.append(img)
    return linear, steps


def levels_apart(a, b):
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """16-bit TIFF (prophoto), 8-bit PNG (srgb), 16-bit PNG (display), float TIFF, planar 16-bit TIFF."""
    folder = tmp_path_factory.mktemp('inputs')
    rng = np.random.default_rng(3)
    smooth = cv2.resize(rng.uniform(0, 1, (6, 9, 3)).astype(np.float32), (301, 203), interpolation=cv2.INTER_CUBIC)
    smooth = np.clip(smooth, 0, 1)
    tifffile.imwrite(folder / 'a.tif', np.rint(smooth * 65535).astype(np.uint16), photometric='rgb')
    cv2.imwrite(str(folder / 'b.png'), rng.integers(0, 256, (90, 67, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / 'c.png'), rng.integers(0, 65536, (70, 1030, 3), dtype=np.uint16))
    tifffile.imwrite(folder / 'd.tif', smooth[:77, :55] * 0.8, photometric='rgb')
    tifffile.imwrite(folder / 'e.tif', np.rint(np.moveaxis(smooth, -1, 0) * 65535).astype(np.uint16),
                     photometric='rgb', planarconfig='separate')
    return {'a.tif': 'prophoto', 'b.png': 'srgb', 'c.png': 'display', 'd.tif': 'linear', 'e.tif': 'prophoto'}, folder


def test_developer_matches_reference_within_one_level(inputs):
    encodings, folder = inputs
    rng = np.random.default_rng(4)
    for bits, intermediates in [(8, True), (16, False)]:
        developer = evaluate.Developer(FILTERS, bits, intermediates, chunk=5000)
        for name, encoding in encodings.items():
            path = str(folder / name)
            edits = random_edits(rng)
            out = developer(evaluate.read_input(path, encoding), edits)
            linear, steps = reference(path, encoding, edits)
            assert out['retouched'].dtype == (np.uint8 if bits == 8 else np.uint16)
            assert levels_apart(out['retouched'], util.quantize(steps[-1], bits)) <= 1, (name, bits)
            if intermediates:
                assert levels_apart(out['linear'], util.quantize(linear, 8)) <= 1
                tone = (linear / max(float(linear.max()), 1e-6)) ** (1 / 2.4)
                assert levels_apart(out['input_tone_mapped'], util.quantize(tone, 8)) <= 1
                for i in range(4):
                    assert levels_apart(out[f'intermediate{i:02d}'], util.quantize(steps[i], 8)) <= 1
                assert 'intermediate04' not in out
        # One trace per sample type, whatever the sizes (3 sizes of uint16 above, and uint8, float32).
        assert developer.functions[np.dtype(np.uint16)].experimental_get_tracing_count() == 1
        assert all(f.experimental_get_tracing_count() <= 1 for f in developer.functions.values())


def test_chunks_give_the_same_image_as_one_piece(inputs):
    encodings, folder = inputs
    photo = evaluate.read_input(str(folder / 'a.tif'), 'prophoto')
    edits = random_edits(np.random.default_rng(5))
    whole = evaluate.Developer(FILTERS, 16, False, chunk=1 << 16)(photo, edits)['retouched']   # one chunk
    assert photo.pixels < 1 << 16
    tiles = evaluate.Developer(FILTERS, 16, False, chunk=1 << 12)(photo, edits)['retouched']
    np.testing.assert_array_equal(whole, tiles)
    # Odd chunk sizes put some pixels through XLA's scalar loop tails: float rounding may differ.
    odd = evaluate.Developer(FILTERS, 16, False, chunk=999)(photo, edits)['retouched']
    assert levels_apart(whole, odd) <= 1


def test_low_res_view_equals_resizing_the_linearized_square(inputs, tmp_path):
    encodings, folder = inputs
    cases = {str(folder / name): encoding for name, encoding in encodings.items()}
    rng = np.random.default_rng(6)
    for h, w in [(16, 16), (128, 200), (257, 300), (320, 321), (333, 500), (384, 400), (700, 1000), (1999, 1003)]:
        path = str(tmp_path / f'{h}x{w}.png')
        cv2.imwrite(path, rng.integers(0, 65536, (h, w, 3), dtype=np.uint16))
        cases[path] = 'srgb'
    for path, encoding in cases.items():
        expected = cv2.resize(util.center_square(util.load_linear(path, encoding)), (64, 64),
                              interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(evaluate.low_res_view(evaluate.read_input(path, encoding)), expected)


def test_batches_of_big_photos_are_read_again(workspace, monkeypatch):
    """Letting a batch's samples go (BATCH_BYTES) changes nothing in the outputs."""
    outs = []
    for k, budget in enumerate([evaluate.BATCH_BYTES, 0]):
        monkeypatch.setattr(evaluate, 'BATCH_BYTES', budget)
        out = workspace / f'out_budget{k}'
        assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos', '--output-dir', str(out), '--seed', '5',
                                            '--no-intermediates']) == 0
        outs.append([cv2.imread(str(out / f'{n}.retouched.png')) for n in ['a.tif', 'b.png', 'c.jpg']])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_original_tf1_checkpoint_evaluates(workspace, monkeypatch, capsys):
    """`evaluate.py example pretrained ...` on a checkpoint with the original's names and shapes."""
    import tensorflow as tf
    g = net.GAN(util.load_config('example', ['--seed=5']))
    rng = np.random.default_rng(3)
    weights = {n: (rng.standard_normal(v.shape.as_list()) * 0.05).astype(np.float32)
               for n, v in net.original_variable_map(g).items()}
    folder = workspace / 'models' / 'example' / 'pretrained'
    folder.mkdir(parents=True)
    names = sorted(weights)
    tf.raw_ops.SaveV2(prefix=str(folder / 'model.ckpt-20000'), tensor_names=names,
                      shape_and_slices=[''] * len(names), tensors=[weights[n] for n in names])
    out = workspace / 'out_original'
    assert run(workspace, monkeypatch, ['example', 'pretrained', 'photos/a.tif', '--output-dir', str(out),
                                        '--seed', '0', '--no-intermediates']) == 0
    assert 'original TF1 checkpoint model.ckpt-20000' in capsys.readouterr().out
    recipe = json.load(open(out / 'a.tif.steps.json'))
    assert recipe['input_encoding'] == 'prophoto' and len(recipe['steps']) == 5
