"""evaluate.py as a user runs it: a small freshly initialised model saved as a checkpoint, files,
folders and globs, every output, recipes re-applied, bad files skipped, nothing overwritten. Then the
fast full-resolution path against the plain one: within 1 level, any size, chunked or whole, and the
agent's low-res view exactly as before."""
import errno
import json
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tifffile

import configurator
import develop
import evaluate
import filters
import image_io
import net


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A project-like folder with models/sintel/tiny (a saved, untrained checkpoint) and photos."""
    root = tmp_path_factory.mktemp('eval')
    cfg = configurator.load_config('sintel', ['--seed=0'])
    gan = net.GAN(cfg)
    model_dir = root / 'models' / 'sintel' / 'tiny'
    manager = gan.make_manager(str(model_dir))
    manager.save(checkpoint_number=7)
    with open(model_dir / 'config.json', 'w') as f:
        json.dump(configurator.config_to_dict(cfg), f)
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


def test_no_dropout_is_one_deterministic_edit(workspace, monkeypatch):
    """--no-dropout: seeds no longer matter (the edits of seeds 3 and 4 differ with dropout, above), and the
    recipe says dropout was off."""
    outs = []
    for seed in ('3', '4'):
        out = workspace / f'out_nodrop{seed}'
        run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--output-dir', str(out),
                                     '--seed', seed, '--no-intermediates', '--no-dropout'])
        outs.append(json.load(open(out / 'a.tif.steps.json')))
    assert outs[0]['steps'] == outs[1]['steps'] and outs[0]['test_dropout'] is False


def test_recipe_reapplies_the_same_edits(workspace, monkeypatch):
    first, second = workspace / 'out_r1', workspace / 'out_r2'
    run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', '--output-dir', str(first), '--seed', '2',
                                 '--format', 'png16'])
    assert run(workspace, monkeypatch, ['--recipe', str(first / 'b.png.steps.json'), 'photos/b.png',
                                        '--output-dir', str(second), '--format', 'png16']) == 0
    a = image_io.read_image(str(first / 'b.png.retouched.png'))
    b = image_io.read_image(str(second / 'b.png.retouched.png'))
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


def refused(capsys):
    """The one-line error of a run that returned 2 (nothing done)."""
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err and 'Traceback' not in err, err
    return err


def test_refuses_to_overwrite_inputs(workspace, monkeypatch, capsys):
    victim = workspace / 'photos' / 'b.png.retouched.png'
    cv2.imwrite(str(victim), np.zeros((20, 20, 3), np.uint8))
    try:
        assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', 'photos/b.png.retouched.png',
                                            '--output-dir', 'photos']) == 2
        assert 'overwrite' in refused(capsys)
    finally:
        victim.unlink()


def test_missing_model_lists_what_exists(workspace, monkeypatch, capsys):
    assert run(workspace, monkeypatch, ['sintel', 'nothere', 'photos/a.tif']) == 2
    err = refused(capsys)
    assert 'tiny' in err and 'train.py sintel nothere' in err
    # Both places looked in are named: below the working directory, then below the project.
    assert "models/sintel/nothere/" in err and f"{configurator.PROJECT_DIR}/models/sintel/nothere/" in err
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--step', '99']) == 2
    assert 'available steps: 7' in refused(capsys)


# ----------------------------------------------------------------------------------------------
# The fast full-resolution path against the reference (float, filter by filter, then quantized)

FILTERS = filters.build_filters(configurator.load_config('example'))


def random_edits(rng, count=5):
    edits = []
    for index in rng.integers(0, len(FILTERS), count):
        f = FILTERS[index]
        raw = tf.constant(rng.normal(0, 1.5, (1, f.num_params)), tf.float32)
        edits.append((int(index), f.parameters(raw).numpy()[0]))
    return edits


def reference(path, encoding, edits):
    """The plain path: float image, linearized, each filter's process in turn; every step kept."""
    img = image_io.load_linear(path, encoding)
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
        developer = develop.Developer(FILTERS, bits, intermediates, chunk=5000)
        for name, encoding in encodings.items():
            path = str(folder / name)
            edits = random_edits(rng)
            out = developer(develop.read_input(path, encoding), edits)
            linear, steps = reference(path, encoding, edits)
            assert out['retouched'].dtype == (np.uint8 if bits == 8 else np.uint16)
            assert levels_apart(out['retouched'], image_io.quantize(steps[-1], bits)) <= 1, (name, bits)
            if intermediates:
                assert levels_apart(out['linear'], image_io.quantize(linear, 8)) <= 1
                tone = (linear / max(float(linear.max()), 1e-6)) ** (1 / 2.4)
                assert levels_apart(out['input_tone_mapped'], image_io.quantize(tone, 8)) <= 1
                for i in range(4):
                    assert levels_apart(out[f'intermediate{i:02d}'], image_io.quantize(steps[i], 8)) <= 1
                assert 'intermediate04' not in out
        # One trace per sample type, whatever the sizes (3 sizes of uint16 above, and uint8, float32).
        assert developer.functions[np.dtype(np.uint16)].experimental_get_tracing_count() == 1
        assert all(f.experimental_get_tracing_count() <= 1 for f in developer.functions.values())


def test_chunks_give_the_same_image_as_one_piece(inputs):
    encodings, folder = inputs
    photo = develop.read_input(str(folder / 'a.tif'), 'prophoto')
    edits = random_edits(np.random.default_rng(5))
    whole = develop.Developer(FILTERS, 16, False, chunk=1 << 16)(photo, edits)['retouched']   # one chunk
    assert photo.pixels < 1 << 16
    tiles = develop.Developer(FILTERS, 16, False, chunk=1 << 12)(photo, edits)['retouched']
    np.testing.assert_array_equal(whole, tiles)
    # Odd chunk sizes put some pixels through XLA's scalar loop tails: float rounding may differ.
    odd = develop.Developer(FILTERS, 16, False, chunk=999)(photo, edits)['retouched']
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
        expected = cv2.resize(image_io.center_square(image_io.load_linear(path, encoding)), (64, 64),
                              interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(develop.low_res_view(develop.read_input(path, encoding)), expected)


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
    g = net.GAN(configurator.load_config('example', ['--seed=5']))
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


# ----------------------------------------------------------------------------------------------
# Reliability: every result kept, recipes checked, output problems, per-photo seeds

EDITS = [('ExposureFilter', [0.5]), ('GammaFilter', [0.8]), ('ImprovedWhiteBalanceFilter', [0.95, 1.02, 0.98]),
         ('SaturationPlusFilter', [0.3]), ('ContrastFilter', [0.4])]


def write_recipe(path, steps=EDITS, encoding='srgb'):
    """A recipe as evaluate.py writes one; its labels deliberately say something else."""
    with open(path, 'w') as f:
        json.dump({'version': 1, 'input_encoding': encoding,
                   'steps': [{'class': c, 'parameters': p, 'label': 'stored label'} for c, p in steps]}, f)
    return str(path)


def write_photo(path, seed, size=(24, 32), ext=None):
    """A small random 8-bit photo, encoded by its extension (or `ext`, whatever the name says)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    path.write_bytes(cv2.imencode(ext or path.suffix.lower(), pixels)[1].tobytes())
    return str(path)


def recipe_run(tmp_path, *argv):
    recipe = write_recipe(tmp_path / 'edit.steps.json')
    return evaluate.main(['--recipe', recipe, *map(str, argv)])


def leftovers(folder):
    """Temporary files left in a folder tree (atomic.temporary_path names)."""
    return [p for p in folder.rglob('.tmp-*')]


def test_same_names_in_two_folders_keep_every_result(tmp_path, capsys):
    dcim = tmp_path / 'DCIM'
    first = write_photo(dcim / '100' / 'IMG_0001.JPG', 1)
    second = write_photo(dcim / '101' / 'IMG_0001.JPG', 2)
    write_photo(dcim / '101' / 'IMG_0002.JPG', 3)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, dcim / '100', dcim / '101', '--output-dir', out, '--no-intermediates') == 0
    stdout = capsys.readouterr().out
    assert '3 of 3 images retouched' in stdout and stdout.count('share a file name') == 1
    results = sorted(str(p.relative_to(out)) for p in out.rglob('*.retouched.png'))
    assert results == ['100/IMG_0001.JPG.retouched.png', '101/IMG_0001.JPG.retouched.png',
                       '101/IMG_0002.JPG.retouched.png']
    # Each result is its own photo's: the same as retouching that photo alone.
    for k, (photo, result) in enumerate([(first, '100/IMG_0001.JPG'), (second, '101/IMG_0001.JPG')]):
        alone = tmp_path / f'alone{k}'
        assert recipe_run(tmp_path, photo, '--output-dir', alone, '--no-intermediates') == 0
        np.testing.assert_array_equal(cv2.imread(str(out / f'{result}.retouched.png')),
                                      cv2.imread(str(alone / 'IMG_0001.JPG.retouched.png')))


def test_the_same_file_given_twice_is_processed_once(tmp_path, capsys):
    photo = write_photo(tmp_path / 'in' / 'a.png', 1)
    (tmp_path / 'link.png').symlink_to(photo)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, photo, tmp_path / 'in' / '..' / 'in' / 'a.png', tmp_path / 'link.png',
                      tmp_path / 'in', '--output-dir', out, '--no-intermediates') == 0
    stdout = capsys.readouterr().out
    assert '1 of 1 images retouched' in stdout and stdout.count('same file as') == 3
    assert sorted(p.name for p in out.iterdir()) == ['a.png.retouched.png', 'a.png.steps.json']


BAD_RECIPES = {   # steps or a whole file -> what the one-line error must say
    'nan': ([('ExposureFilter', [0.5]), ('GammaFilter', [float('nan')])], 'step 2 (gamma): parameter 1 is nan'),
    'too few': ([('ToneFilter', [1.0] * 7)], 'step 1 (tone): 7 parameters, but tone takes 8; give exactly 8'),
    'too many': ([('ExposureFilter', [0.5, 0.1])], 'step 1 (exposure): 2 parameters, but exposure takes 1'),
    'gamma 0': ([('GammaFilter', [0])], "step 1 (gamma): parameter 1 is 0, outside gamma's range 0.333333 to 3"),
    'exposure 1e6': ([('ExposureFilter', [1e6])], "outside exposure's range -3.5 to 3.5; give a finite value"),
    'white balance': ([('ImprovedWhiteBalanceFilter', [1.0, 5.0, 1.0])], 'step 1 (white_balance): parameter 2'),
    'not numbers': ([('ExposureFilter', ['0.5'])], "'parameters' must be a list of numbers (1 for exposure)"),
    'unknown filter': ([('BlurFilter', [1.0])], "step 1: unknown filter 'BlurFilter'; give its 'class' as one of"),
    'encoding': ({'input_encoding': 'cmyk', 'steps': [{'class': 'ExposureFilter', 'parameters': [0.5]}]},
                 "unknown input_encoding 'cmyk'; use one of auto, display"),
    'no steps': ({'steps': []}, 'no steps'),
    'not a recipe': ([1, 2], 'no steps'),
    'not json': ('{"steps": [', 'is not valid JSON'),
    'missing': (None, 'cannot read recipe'),
}


@pytest.mark.parametrize('case', BAD_RECIPES)
def test_bad_recipes_are_refused_with_the_step_and_the_fix(tmp_path, capsys, case):
    content, expected = BAD_RECIPES[case]
    recipe = tmp_path / 'bad.steps.json'
    if isinstance(content, str):
        recipe.write_text(content)
    elif isinstance(content, list) and content and isinstance(content[0], tuple):
        write_recipe(recipe, content)
    elif content is not None:
        recipe.write_text(json.dumps(content))
    photo = write_photo(tmp_path / 'a.png', 1)
    out = tmp_path / 'out'
    assert evaluate.main(['--recipe', str(recipe), photo, '--output-dir', str(out)]) == 2
    err = refused(capsys)
    assert str(recipe) in err and expected in err, err
    assert not out.exists()                                       # refused before any work


def test_recipe_prints_the_values_it_applies(tmp_path, capsys):
    assert recipe_run(tmp_path, write_photo(tmp_path / 'a.png', 1), '--output-dir', tmp_path / 'out') == 0
    stdout = capsys.readouterr().out
    assert 'stored label' not in stdout
    assert 'Exposure +0.50 > G 1/1.25 > WB 0.95 1.02 0.98 > Saturation +0.30 > Contrast +0.40' in stdout


def test_output_folder_problems_are_refused_before_any_work(tmp_path, capsys):
    photo = write_photo(tmp_path / 'a.png', 1)
    a_file = tmp_path / 'notes.txt'
    a_file.write_text('not a folder')
    cases = {str(a_file): 'is a file, not a folder', str(a_file / 'sub'): 'is a file, not a folder'}
    if os.geteuid() != 0:                       # root writes into read-only folders
        locked = tmp_path / 'locked'
        locked.mkdir(mode=0o555)
        cases[str(locked)] = 'cannot write there (Permission denied)'
    if os.path.isdir('/sys/kernel'):            # sysfs takes no new folders, not even root's
        cases['/sys/exposure-test'] = 'cannot write there (Operation not permitted)'
    for out, expected in cases.items():
        assert recipe_run(tmp_path, photo, '--output-dir', out) == 2
        err = refused(capsys)
        assert f'--output-dir {out}: ' in err and expected in err and 'choose another --output-dir' in err


@pytest.mark.parametrize('failing', ['lut', 'image'])
def test_full_disk_names_the_photo_and_leaves_no_partial_set(tmp_path, capsys, monkeypatch, failing):
    """The second photo's set fails while being written: nothing of it stays, the run stops there,
    the first photo's set is complete, and --skip-existing then finishes the job."""
    import lut
    photos = [write_photo(tmp_path / 'in' / f'{name}.png', k, size) for k, (name, size) in
              enumerate([('a', (24, 32)), ('b', (26, 34)), ('c', (24, 32))])]

    def full(real):
        def write(path, *args, **kwargs):
            if kwargs.get('title', '').startswith('b.png') or np.shape(kwargs.get('img'))[:2] == (26, 34):
                # image_io.write_image's OutputError keeps the OS error as its context
                try:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                except OSError:
                    if failing == 'lut':
                        raise
                    raise image_io.OutputError(f'{path}: cannot write the image: no space left on device') from None
            return real(path, *args, **kwargs)
        return write

    if failing == 'lut':
        monkeypatch.setattr(lut, 'write_cube', full(lut.write_cube))
    else:
        real = image_io.write_image
        monkeypatch.setattr(image_io, 'write_image', lambda path, img, fmt=None, metadata=None, alpha=None: (
            full(real)(path, img=img, fmt=fmt, metadata=metadata, alpha=alpha) if metadata is not None
            else real(path, img, fmt, alpha=alpha)))
    out = tmp_path / 'out'
    argv = [tmp_path / 'in', '--output-dir', out, '--lut']
    assert recipe_run(tmp_path, *argv) == 1
    err = capsys.readouterr().err
    assert f'skipped: {photos[1]}: cannot write its results to {out}: no space left on device' in err
    # c.png may have been developed and written meanwhile, on the other worker: then it counts too.
    finished = sorted(p.name[0] for p in out.glob('*.retouched.png'))
    assert finished in (['a'], ['a', 'c'])
    assert f'stopped: no space left for the results; {len(finished)} of 3 photos were finished' in err
    assert '--skip-existing' in err and 'Traceback' not in err
    assert len(list(out.iterdir())) == 9 * len(finished) and not leftovers(out)    # 9 files a photo
    monkeypatch.undo()
    assert recipe_run(tmp_path, *argv, '--skip-existing') == 0
    assert 'already done' in capsys.readouterr().out
    assert len(list(out.iterdir())) == 27


def test_a_photo_gets_the_same_edit_alone_in_any_batch_and_shard(workspace, monkeypatch):
    """--seed: a photo's edit depends on the seed and its pixels only (not its position, its batch, its
    name or its shard), so sharded runs and reruns give the same results."""
    mixed = workspace / 'mixed'
    mixed.mkdir(exist_ok=True)
    for name, source in [('0_c.jpg', 'c.jpg'), ('1_b.png', 'b.png'), ('2_copy_of_a.tif', 'a.tif')]:
        (mixed / name).write_bytes((workspace / 'photos' / source).read_bytes())
    runs = {'alone': ['photos/a.tif'], 'batch': ['photos'], 'reordered': ['mixed'],
            'shard': ['photos', '--shard', '2/2']}                 # photos/a.tif is in part 1, b and c in 2
    for name, items in runs.items():
        assert run(workspace, monkeypatch, ['sintel', 'tiny', *items, '--output-dir', f'out_seed_{name}',
                                            '--seed', '11', '--no-intermediates']) == 0

    def result(run_name, photo):
        folder = workspace / f'out_seed_{run_name}'
        return (json.load(open(folder / f'{photo}.steps.json'))['steps'],
                cv2.imread(str(folder / f'{photo}.retouched.png'), cv2.IMREAD_UNCHANGED))

    for (run_a, photo_a), (run_b, photo_b) in [
            (('alone', 'a.tif'), ('batch', 'a.tif')), (('alone', 'a.tif'), ('reordered', '2_copy_of_a.tif')),
            (('batch', 'b.png'), ('reordered', '1_b.png')), (('batch', 'c.jpg'), ('reordered', '0_c.jpg')),
            (('batch', 'b.png'), ('shard', 'b.png')), (('batch', 'c.jpg'), ('shard', 'c.jpg'))]:
        (steps_a, image_a), (steps_b, image_b) = result(run_a, photo_a), result(run_b, photo_b)
        assert [(s['class'], s['parameters']) for s in steps_a] == [(s['class'], s['parameters']) for s in steps_b]
        np.testing.assert_array_equal(image_a, image_b)
    assert not (workspace / 'out_seed_shard' / 'a.tif.retouched.png').exists()


def test_batch_size_changes_no_edit_and_never_runs_the_agent_on_more_than_its_group(workspace, monkeypatch):
    """--seed: --batch-size says only how many photos are read before the agent runs; its networks
    always see groups of evaluate.BATCH_SIZE (a group padded to it), so a photo's edit is the same, to
    the byte, at any --batch-size, and one photo is never run in a batch of 256."""
    sizes = []
    rollout = net.GAN.rollout

    def recorded(self, images, *args, **kwargs):
        sizes.append(len(images))
        return rollout(self, images, *args, **kwargs)
    monkeypatch.setattr(net.GAN, 'rollout', recorded)
    results = {}
    for items, size in ((['photos/a.tif'], '1'), (['photos/a.tif'], '256'), (['photos'], '2'), (['photos'], '256')):
        out = workspace / f'out_batch_{len(items[0])}_{size}'
        assert run(workspace, monkeypatch, ['sintel', 'tiny', *items, '--output-dir', str(out), '--seed', '11',
                                            '--batch-size', size, '--no-intermediates']) == 0
        results[items[0], size] = {p.name: p.read_bytes() for p in out.glob('*.retouched.png')}
        results[items[0], size].update({p.name: json.load(open(p))['steps'] for p in out.glob('*.steps.json')})
    assert sizes == [evaluate.BATCH_SIZE] * 5            # 1, 1, 2 (of 2 photos, then 1), 1
    assert results['photos/a.tif', '1'] == results['photos/a.tif', '256']
    assert results['photos', '2'] == results['photos', '256']
    assert all(results['photos', '2'][name] == value for name, value in results['photos/a.tif', '1'].items())


def test_the_shipped_model_is_found_from_another_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                   # no models/ here: the project's is used
    photo = write_photo(tmp_path / 'a.png', 1)
    assert evaluate.main(['sintel', 'pretrained', photo, '--no-intermediates', '--seed', '1']) == 0
    assert f"model {configurator.PROJECT_DIR}/models/sintel/pretrained" in capsys.readouterr().out
    assert (tmp_path / 'outputs' / 'a.png.retouched.png').exists()


@pytest.mark.parametrize('option, value', [('--batch-size', '0'), ('--batch-size', '-1'), ('--batch-size', 'x'),
                                           ('--shard', '0/3'), ('--shard', '4/3'), ('--shard', '3'),
                                           ('--shard', 'a/b')])
def test_bad_option_values_are_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exit:
        evaluate.parse_args(['sintel', 'tiny', 'a.png', option, value])
    assert exit.value.code == 2 and f'argument {option}' in capsys.readouterr().err


def test_options_may_be_spelled_as_train_py_overrides_are():
    args = evaluate.parse_args(['sintel', 'tiny', 'my_photo.png', '--output_dir', 'out_1', '--batch_size=4',
                                '--no_intermediates'])
    assert (args.output_dir, args.batch_size, args.no_intermediates) == ('out_1', 4, True)
    assert args.images == ['my_photo.png']          # only option names change


def test_a_folder_named_like_a_photo_is_reported(tmp_path, capsys):
    (tmp_path / 'x.jpg').mkdir()
    inside = tmp_path / 'shoot'
    (inside / '0.jpg').mkdir(parents=True)
    photo = write_photo(inside / 'a.png', 1)
    code = recipe_run(tmp_path, tmp_path / 'x.jpg', inside, '--output-dir', tmp_path / 'out')
    captured = capsys.readouterr()
    assert code == 1
    assert f"skipped: {tmp_path / 'x.jpg'}: a folder without images" in captured.err
    assert f"skipped: [1/2] {inside / '0.jpg'}: is a folder, not an image" in captured.err
    assert f'[2/2] {photo} ->' in captured.out and '1 of 2 images retouched' in captured.out


def test_a_config_can_be_named_by_its_file(tmp_path, monkeypatch, capsys):
    # As a shell completes it: config_sintel.py is sintel, for evaluate.py, train.py and data.py alike.
    assert [configurator.config_name(t) for t in ('sintel', 'config_sintel', 'config_sintel.py', './config_sintel.py')] \
        == ['sintel'] * 4
    monkeypatch.chdir(tmp_path)
    assert evaluate.main(['config_sintel.py', 'nosuch', 'a.png']) == 2
    assert 'no trained model sintel/nosuch' in refused(capsys)
    import train
    assert train.parse_args(['config_photos.py', 'm'])[0].config == 'photos'


def test_unknown_config_lists_the_available_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert evaluate.main(['nosuch', 'mymodel', 'a.png']) == 2
    err = refused(capsys)
    assert f"unknown config 'nosuch'; available configs: {', '.join(configurator.available_configs())}" in err
    assert 'train.py' not in err
    assert not (tmp_path / 'outputs').exists()


# ----------------------------------------------------------------------------------------------
# Results for photographers' tools: LUTs, metadata, shards, reruns

def psnr(a, b):
    return 10 * np.log10(1 / max(float(np.mean((a - b) ** 2)), 1e-12))


def natural_photos(folder):
    """scikit-image's bundled photos as 8-bit sRGB PNG and JPEG files (smooth areas, deep shadows)."""
    import skimage.data
    folder.mkdir()
    for name, ext in [('astronaut', '.png'), ('coffee', '.jpg'), ('chelsea', '.png')]:
        img = getattr(skimage.data, name)()[::2, ::2, :3]
        cv2.imwrite(str(folder / f'{name}{ext}'), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return sorted(folder.iterdir())


@pytest.mark.parametrize('size', [33, 65])
def test_lut_reproduces_the_retouched_photo(tmp_path, size):
    """colour-science applies each written .cube to the photo's stored values: the project's own result
    within 40 dB PSNR. (Steep curves near black, e.g. strong gamma on linear inputs, are where a 3D
    LUT is least exact; these edits include a gamma and an exposure.)"""
    import colour
    photos = natural_photos(tmp_path / 'in')
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--lut', '--lut-size', size) == 0
    for photo in photos:
        table = colour.read_LUT(str(out / f'{photo.name}.cube'))
        assert isinstance(table, colour.LUT3D) and table.size == size
        applied = table.apply(image_io.read_image(str(photo)).astype(np.float64))
        result = image_io.read_image(str(out / f'{photo.name}.retouched.png'))
        assert psnr(image_io.quantize(applied, 8) / 255.0, result) >= 40, photo.name
    text = (out / f'{photos[0].name}.cube').read_text()
    assert f'LUT_3D_SIZE {size}\n' in text and f"# Input: {photos[0].name}'s stored RGB values" in text


def test_model_run_writes_a_lut_next_to_the_recipe(workspace, monkeypatch):
    """The table is the photo's development: on a photo made of grid points, where no interpolation
    is involved, the LUT gives the retouched pixels."""
    import colour
    (workspace / 'grid').mkdir()
    points = np.random.default_rng(0).integers(0, 33, (40, 50, 3)) / 32
    cv2.imwrite(str(workspace / 'grid' / 'g.png'), np.rint(points * 65535).astype(np.uint16))
    out = workspace / 'out_lut'
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'grid/g.png', '--output-dir', str(out), '--seed', '3',
                                        '--lut', '--no-intermediates']) == 0
    assert sorted(p.name for p in out.iterdir()) == ['g.png.cube', 'g.png.retouched.png', 'g.png.steps.json']
    recipe = json.load(open(out / 'g.png.steps.json'))
    assert ' > '.join(s['label'] for s in recipe['steps']) in (out / 'g.png.cube').read_text()
    applied = colour.read_LUT(str(out / 'g.png.cube')).apply(points[..., ::-1])   # OpenCV wrote BGR
    assert levels_apart(image_io.quantize(applied, 8), cv2.imread(str(out / 'g.png.retouched.png'))[..., ::-1]) <= 1


def test_results_carry_the_photo_metadata(tmp_path):
    from PIL import Image, ImageCms
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = 'TestMake', 'TestModel'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()
    photo = tmp_path / 'in' / 'a.jpg'
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(
        photo, exif=exif.tobytes(), icc_profile=icc)
    for fmt, ext in [('png', 'png'), ('tiff16', 'tif'), ('jpeg', 'jpg')]:
        out = tmp_path / fmt
        assert recipe_run(tmp_path, photo, '--output-dir', out, '--format', fmt) == 0
        metadata = image_io.read_metadata(str(out / f'a.jpg.retouched.{ext}'))
        assert metadata['icc_profile'] == icc
        block = Image.Exif()
        block.load(metadata['exif'])
        assert block[0x010F] == 'TestMake' and block[0x0110] == 'TestModel'


def test_shards_cover_the_inputs_once_in_balanced_parts(tmp_path, capsys):
    for total in range(12):
        files = [f'f{i:02d}' for i in range(total)][::-1]
        for n in range(1, 6):
            parts = [evaluate.shard(files, k, n) for k in range(1, n + 1)]
            assert sorted(sum(parts, [])) == sorted(files)
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for k, name in enumerate('abcde'):
        write_photo(tmp_path / 'in' / f'{name}.png', k)
    out = tmp_path / 'out'
    for k in (1, 2, 3):
        assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--shard', f'{k}/3',
                          '--no-intermediates') == 0
    stdout = capsys.readouterr().out
    assert 'shard 1/3: 1 of the 5 inputs' in stdout and 'shard 3/3: 2 of the 5 inputs' in stdout
    assert sorted(p.name for p in out.glob('*.retouched.*')) == [f'{n}.png.retouched.png' for n in 'abcde']
    assert len(list(out.iterdir())) == 10                   # and each photo's recipe


def test_skip_existing_redoes_only_missing_results(tmp_path, capsys):
    for k, name in enumerate('ab'):
        write_photo(tmp_path / 'in' / f'{name}.png', k)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out) == 0
    (out / 'b.png.retouched.png').unlink()
    kept = out / 'a.png.retouched.png'
    os.utime(kept, (0, 0))
    capsys.readouterr()
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--skip-existing') == 0
    stdout = capsys.readouterr().out
    assert f"[1/2] {tmp_path / 'in' / 'a.png'}: already done ({kept} exists)" in stdout
    assert '1 of 2 images retouched' in stdout and '1 already done' in stdout
    assert kept.stat().st_mtime == 0 and (out / 'b.png.retouched.png').exists()
    # Asked again with --lut, a result without its .cube is made again, with the .cube.
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--skip-existing', '--lut') == 0
    assert (out / 'a.png.cube').exists() and (out / 'b.png.cube').exists() and kept.stat().st_mtime > 0
    capsys.readouterr()
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--skip-existing', '--lut') == 0
    assert '2 already done' in capsys.readouterr().out


def test_help_explains_every_new_option_with_an_example(capsys):
    with pytest.raises(SystemExit):
        evaluate.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    for option, example in [('--lut', 'evaluate.py sintel pretrained shoot/ --lut'), ('--lut-size', '65'),
                            ('--shard K/N', '--shard 3/8'), ('--skip-existing', 'rerun a failed shard'),
                            ('--seed', '--seed 7')]:
        assert option in text and example in text, option
    assert 'lut3d=outputs/photo.jpg.cube' in text and 'exit status: 0' in text and 'share a file name' in text


def test_help_and_refusals_do_not_wait_for_tensorflow():
    """evaluate.py loads TensorFlow once its arguments are checked: --help and a refused command line
    answer at once (importing the module does not load it)."""
    import subprocess
    import sys
    code = 'import sys, evaluate; print("tensorflow" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=configurator.PROJECT_DIR, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == 'False', out.stderr
