"""score.py (histogram intersection, paired metrics, pairing, CLI) and bench/baselines.py, on tiny images."""
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)

import image_io  # noqa: E402
import score  # noqa: E402
from conftest import unsearchable, without_root  # noqa: E402

H, W = 96, 128


def grey(value, h=H, w=W):
    return np.full((h, w, 3), value, np.float32)


def textured(seed, h=H, w=W):
    """A smooth colour gradient plus noise: varied luminance, contrast and saturation."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 1.0 - x / w], axis=-1) * rng.uniform(0.3, 1.0, 3)
    return np.clip(base + rng.normal(0, 0.05, (h, w, 3)), 0, 1).astype(np.float32)


def write_folder(folder, images):
    """{name: float image} -> 8-bit PNG files; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for name, img in images.items():
        image_io.write_image(os.path.join(folder, name), img)
    return str(folder)


def silent(message):
    pass


# ----------------------------------------------------------------------------------------------
# Histogram intersection (spec 8.6)

def test_identical_folders_score_100_and_infinite_psnr(tmp_path):
    images = {f'{i:04d}.png': textured(i) for i in range(3)}
    outputs = write_folder(tmp_path / 'out', images)
    targets = write_folder(tmp_path / 'tgt', images)
    result = score.score_folders(outputs, targets, log=silent)
    assert result['histogram_intersection'] == dict(luminance=100.0, contrast=100.0, saturation=100.0,
                                                    average=100.0)
    paired = result['paired_metrics']
    assert paired['count'] == 3 and paired['psnr'] == math.inf
    assert paired['ssim'] == pytest.approx(1.0) and paired['ciede2000'] == pytest.approx(0.0, abs=1e-9)
    # JSON has no infinity: an infinite PSNR is written as null (count > 0 tells it from "no pairs").
    line = json.loads(score.to_json(result))
    assert line['paired_metrics']['psnr'] is None and line['paired_metrics']['count'] == 3


def test_transparent_images_are_scored_for_what_shows(tmp_path):
    """A result and its target that show the same picture score as identical, whatever colours each
    file keeps under its fully transparent pixels; a change that shows is scored."""
    rng = np.random.default_rng(0)
    visible = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    alpha = np.full((32, 32), 255, np.uint8)
    alpha[:, :12] = 0
    hidden = lambda colour: np.where(alpha[..., None] > 0, visible, np.uint8(colour))      # noqa: E731
    for folder, colour in (('out', 0), ('tgt', 255)):
        os.makedirs(tmp_path / folder)
        image_io.write_image(str(tmp_path / folder / 'a.png'), hidden(colour), alpha=alpha)
    assert score.score_folders(str(tmp_path / 'out'), str(tmp_path / 'tgt'), log=silent)['paired_metrics'][
        'psnr'] == math.inf
    shown = hidden(0).copy()
    shown[:, 20:] //= 2                               # half of the visible part darker
    image_io.write_image(str(tmp_path / 'out' / 'a.png'), shown, alpha=alpha)
    assert score.score_folders(str(tmp_path / 'out'), str(tmp_path / 'tgt'), log=silent)['paired_metrics'][
        'psnr'] < 20


def test_constant_greys_in_different_bins_do_not_intersect_in_luminance():
    # Luminance 0.2 is bin 6 and 0.6 bin 19 of 32; both have zero contrast and zero saturation.
    result = score.histogram_intersection([grey(0.2)], [grey(0.6)])
    assert result['luminance'] == 0.0
    assert result['contrast'] == pytest.approx(100.0) and result['saturation'] == pytest.approx(100.0)
    assert result['average'] == pytest.approx(200.0 / 3)


def test_constant_greys_in_the_same_bin_intersect_fully():
    # 0.38 and 0.40 both lie in bin 12 = [0.375, 0.40625).
    result = score.histogram_intersection([grey(0.38), grey(0.38)], [grey(0.40)])
    assert result == pytest.approx(dict(luminance=100.0, contrast=100.0, saturation=100.0, average=100.0))


def test_saturation_of_pure_red_against_grey_of_equal_luminance():
    red = np.zeros((H, W, 3), np.float32)
    red[..., 0] = 1.0   # luminance 0.27 (bin 8), HLS saturation 1 (bin 31)
    result = score.histogram_intersection([red], [grey(0.27)])
    assert result['saturation'] == 0.0
    assert result['luminance'] == pytest.approx(100.0) and result['contrast'] == pytest.approx(100.0)


def test_patch_statistics_of_a_checkerboard():
    # 80x80 black/white checkerboard: every 64x64 patch is half 0, half 1 -> mean 0.5, 2 * std = 1.
    board = np.indices((80, 80)).sum(axis=0) % 2
    img = np.repeat(board[..., None], 3, axis=2).astype(np.float32)
    stats = score.patch_statistics(img, np.random.default_rng(0))
    assert stats.shape == (16, 3)
    np.testing.assert_allclose(stats[:, 0], 0.5, atol=1e-5)
    np.testing.assert_allclose(stats[:, 1], 1.0, atol=1e-5)
    np.testing.assert_allclose(stats[:, 2], 0.0, atol=1e-6)
    # 2 * std can reach 1.0 exactly: it must land in the last bin, not fall off the histogram.
    assert score.intersect(stats, stats)['contrast'] == pytest.approx(100.0)


def test_scores_are_repeatable_for_a_seed():
    outputs, targets = [textured(1), textured(2)], [textured(3)]
    first = score.histogram_intersection(outputs, targets, seed=5)
    assert score.histogram_intersection(outputs, targets, seed=5) == first


def test_no_images_is_an_error():
    with pytest.raises(ValueError, match='no readable images'):
        score.histogram_intersection([], [grey(0.5)])


# ----------------------------------------------------------------------------------------------
# Paired metrics

def test_paired_metrics_of_a_known_offset():
    result = score.paired_metrics([(grey(0.6), grey(0.5))])
    assert result['count'] == 1
    assert result['psnr'] == pytest.approx(20.0, abs=1e-4)   # 10 log10(1 / 0.1^2)
    # SSIM of constants reduces to the luminance term (2 mx my + C1) / (mx^2 + my^2 + C1), C1 = 0.01^2.
    assert result['ssim'] == pytest.approx((2 * 0.3 + 1e-4) / (0.25 + 0.36 + 1e-4), rel=1e-5)

    # CIEDE2000 of two neutral greys is dL / S_L, with L* from the sRGB decoding of each grey.
    def lightness(v):
        y = ((v + 0.055) / 1.055) ** 2.4
        return 116 * y ** (1 / 3) - 16
    l1, l2 = lightness(0.5), lightness(0.6)
    mean = (l1 + l2) / 2
    s_l = 1 + 0.015 * (mean - 50) ** 2 / math.sqrt(20 + (mean - 50) ** 2)
    assert result['ciede2000'] == pytest.approx((l2 - l1) / s_l, rel=1e-3)


def test_paired_metrics_without_pairs():
    assert score.paired_metrics([]) == dict(psnr=None, ssim=None, ciede2000=None, count=0, ssim_count=0)


def test_images_under_the_ssim_window_have_no_ssim_but_the_rest_is_scored(tmp_path):
    # scikit-image's SSIM raises on images under 7x7, which used to abort all scoring.
    outputs = write_folder(tmp_path / 'out', {'0001.png': grey(0.4), '0002.png': grey(0.5, 5, 9),
                                              '0003.png': grey(0.5, 1, 1)})
    targets = write_folder(tmp_path / 'tgt', {'0001.png': grey(0.4), '0002.png': grey(0.5, 5, 9),
                                              '0003.png': grey(0.5, 1, 1)})
    messages = []
    result = score.score_folders(outputs, targets, log=messages.append)
    paired = result['paired_metrics']
    assert paired['count'] == 3 and paired['ssim_count'] == 1 and paired['ssim'] == pytest.approx(1.0)
    assert paired['psnr'] == math.inf and paired['ciede2000'] == pytest.approx(0.0, abs=1e-9)
    notes = [m for m in messages if 'no SSIM' in m]
    assert len(notes) == 2 and '0002.png is 9x5' in notes[0] and '0003.png is 1x1' in notes[1]
    assert 'SSIM 1.0000 (of 1)' in score.format_table(result)
    assert score.paired_metrics([(grey(0.5, 3, 3), grey(0.5, 3, 3))])['ssim'] is None


# ----------------------------------------------------------------------------------------------
# Pairing and folders

def test_pairing_by_name_without_extensions():
    pairs, lone_outputs, lone_targets = score.pair_by_name(
        ['o/0612.jpg.retouched.png', 'o/0613.retouched.png', 'o/0700.png', 'o/frame.0001.jpg.retouched.tif',
         'o/frame.0002.png'],
        ['t/0612.jpg', 't/0613.png', 't/0614.jpg', 't/frame.0001.jpg', 't/frame.0002.JPG', 't/frame.0003.jpg'])
    assert pairs == [('o/0612.jpg.retouched.png', 't/0612.jpg'), ('o/0613.retouched.png', 't/0613.png'),
                     ('o/frame.0001.jpg.retouched.tif', 't/frame.0001.jpg'), ('o/frame.0002.png', 't/frame.0002.JPG')]
    assert lone_outputs == ['o/0700.png'] and lone_targets == ['t/0614.jpg', 't/frame.0003.jpg']
    assert score.name_key('x/.png') == '.png' and score.name_key('a.b.c') == 'a.b.c'
    with pytest.raises(ValueError, match="share the name '0612'"):
        score.pair_by_name(['o/0612.png'], ['t/0612.jpg', 't/0612.png'])


def test_evaluate_folders_score_only_the_retouched_images(tmp_path):
    # evaluate.py writes intermediates, previews and a step figure beside each result.
    outputs = write_folder(tmp_path / 'out', {
        '0001.jpg.retouched.png': grey(0.4), '0001.jpg.intermediate00.png': grey(0.9),
        '0001.jpg.linear.png': grey(0.1), '0001.jpg.steps.png': grey(1.0, 272, 408),
        '0002.jpg.retouched.png': grey(0.4)})
    targets = write_folder(tmp_path / 'tgt', {'0001.png': grey(0.4), '0003.png': grey(0.4)})
    result = score.score_folders(outputs, targets, log=silent)
    assert result['counts'] == dict(outputs=2, targets=2, paired=1, unpaired_outputs=1, unpaired_targets=1,
                                    resized=0, skipped=0)
    assert result['histogram_intersection']['average'] == pytest.approx(100.0)


def test_names_with_dots_are_scored(tmp_path):
    # Names up to the first dot used to collide ("two output files share the name 'frame'").
    images = {f'frame.{i:04d}.png': textured(i) for i in range(3)}
    outputs = write_folder(tmp_path / 'out', {f'frame.{i:04d}.jpg.retouched.png': textured(i) for i in range(3)})
    targets = write_folder(tmp_path / 'tgt', images)
    (tmp_path / 'list.txt').write_text('frame.0001.jpg\nframe.0002.jpg\n')
    result = score.score_folders(outputs, targets, keys=score.read_name_list(tmp_path / 'list.txt'), log=silent)
    assert result['counts']['paired'] == 2 and result['paired_metrics']['psnr'] == math.inf


def test_files_from_restricts_both_folders(tmp_path):
    outputs = write_folder(tmp_path / 'out', {'0001.png': grey(0.2), '0002.png': grey(0.8)})
    targets = write_folder(tmp_path / 'tgt', {'0001.jpg': grey(0.2), '0002.jpg': grey(0.4)})
    (tmp_path / 'list.txt').write_text('# held-out frames\n0001.jpg\n\n')
    keys = score.read_name_list(tmp_path / 'list.txt')
    assert keys == {'0001'}
    result = score.score_folders(outputs, targets, keys=keys, log=silent)
    assert result['counts']['outputs'] == result['counts']['targets'] == result['counts']['paired'] == 1
    assert result['histogram_intersection']['luminance'] == pytest.approx(100.0)


def test_bad_image_is_skipped_and_counted(tmp_path):
    outputs = write_folder(tmp_path / 'out', {'0001.png': grey(0.4)})
    (tmp_path / 'out' / '0002.png').write_bytes(b'not an image')
    targets = write_folder(tmp_path / 'tgt', {'0001.png': grey(0.4), '0002.png': grey(0.4)})
    messages = []
    result = score.score_folders(outputs, targets, log=messages.append)
    assert result['counts']['skipped'] == 1 and result['counts']['outputs'] == 1
    assert result['paired_metrics']['count'] == 1
    assert len(result['skipped_files']) == 1 and '0002.png' in result['skipped_files'][0]
    assert len(messages) == 1 and '0002.png' in messages[0]   # reported once, although read twice


def test_outputs_of_another_size_are_resized_to_the_target(tmp_path):
    outputs = write_folder(tmp_path / 'out', {'0001.png': grey(0.4, 48, 64)})
    targets = write_folder(tmp_path / 'tgt', {'0001.png': grey(0.4)})
    messages = []
    result = score.score_folders(outputs, targets, log=messages.append)
    assert result['counts']['resized'] == 1 and 'resized' in messages[0]
    assert result['paired_metrics']['psnr'] == math.inf


def test_missing_empty_and_unsearchable_folders_are_clear_errors(tmp_path, capsys, open_folder):
    (tmp_path / 'empty').mkdir()
    targets = write_folder(tmp_path / 'tgt', {'0001.png': grey(0.4)})
    with pytest.raises(SystemExit, match='output folder .*nowhere does not exist'):
        score.main([str(tmp_path / 'nowhere'), targets])
    with pytest.raises(SystemExit, match='output folder .*empty holds no images'):
        score.main([str(tmp_path / 'empty'), targets])

    write_folder(os.path.join(open_folder, 'locked', 'out'), {'0001.png': grey(0.4)})
    with unsearchable(os.path.join(open_folder, 'locked')), without_root(), pytest.raises(SystemExit) as e:
        score.main(['locked/out', targets])
    assert str(e.value) == ('error: output folder locked/out: permission denied: the folder locked is not searchable '
                            '(no x permission), so nothing in it can be opened: make it searchable (chmod +x '
                            'locked), or move the files out of it')


def test_cli_prints_a_table_and_a_final_json_line(tmp_path):
    outputs = write_folder(tmp_path / 'out', {'0001.jpg.retouched.png': textured(1)})
    targets = write_folder(tmp_path / 'tgt', {'0001.png': textured(2)})
    run = subprocess.run([sys.executable, os.path.join(PROJECT_DIR, 'score.py'), outputs, targets,
                          '--seed', '3'], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert any('histogram intersection' in line for line in lines)
    result = json.loads(lines[-1])
    assert result['seed'] == 3 and result['paired_metrics']['count'] == 1
    assert 0 <= result['histogram_intersection']['average'] <= 100


def test_scoring_does_not_import_tensorflow():
    # score.py reads images through image_io; it must start without loading TensorFlow.
    code = 'import sys, score; print("tensorflow" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'False', out.stderr


def test_json_only_prints_one_line(tmp_path, capsys):
    images = {'0001.png': textured(1)}
    outputs, targets = write_folder(tmp_path / 'out', images), write_folder(tmp_path / 'tgt', images)
    score.main([outputs, targets, '--json-only'])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])['histogram_intersection']['average'] == 100.0


# ----------------------------------------------------------------------------------------------
# bench/baselines.py

def load_baselines():
    path = os.path.join(PROJECT_DIR, 'bench', 'baselines.py')
    spec = importlib.util.spec_from_file_location('baselines', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_baseline_functions():
    baselines = load_baselines()
    img = textured(4)
    assert baselines.identity(img) is img
    np.testing.assert_allclose(baselines.auto_exposure_gamma(grey(0.2)), 0.5, rtol=1e-5)
    tinted = img * np.array([1.0, 0.7, 0.4], np.float32)
    balanced = baselines.grayworld_levels(tinted)
    assert balanced.min() == 0.0 and balanced.max() == 1.0
    assert np.percentile(balanced, 1) == pytest.approx(0.0, abs=1e-3)
    assert np.percentile(balanced, 99) == pytest.approx(1.0, abs=1e-3)
    for name, baseline in baselines.BASELINES.items():
        out = baseline(tinted)
        assert out.shape == tinted.shape and out.dtype == np.float32, name
        assert 0.0 <= out.min() and out.max() <= 1.0, name


def test_grayworld_equalizes_channel_means_before_the_stretch():
    baselines = load_baselines()
    tinted = textured(5) * np.array([1.0, 0.7, 0.4], np.float32)
    out = baselines.grayworld_levels(tinted)
    means = out.reshape(-1, 3).mean(axis=0)   # the joint stretch keeps them near-equal (up to clipping)
    assert means.max() - means.min() < 0.02


def test_baselines_cli(tmp_path, capsys):
    baselines = load_baselines()
    inputs = write_folder(tmp_path / 'in', {'0001.jpg': textured(1), '0002.jpg': textured(2)})
    targets = write_folder(tmp_path / 'tgt', {'0001.jpg': textured(3), '0002.jpg': textured(4)})
    (tmp_path / 'list.txt').write_text('0002.jpg\n')
    out_dir = tmp_path / 'bench'
    baselines.main([inputs, targets, str(out_dir), '--files-from', str(tmp_path / 'list.txt'),
                    '--extra', f'copy={inputs}'])
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert list(result['scores']) == ['identity', 'auto_exposure_gamma', 'clahe', 'grayworld_levels', 'copy']
    assert sorted(os.listdir(out_dir / 'clahe')) == ['0002.png']
    for name, scores in result['scores'].items():
        assert scores['paired_metrics']['count'] == 1, name
    # The identity baseline is the input itself, as the extra folder is.
    identity, copy = result['scores']['identity'], result['scores']['copy']
    assert identity['histogram_intersection'] == copy['histogram_intersection']
    assert identity['paired_metrics'] == copy['paired_metrics']


def test_baselines_refuse_to_overwrite_inputs(tmp_path):
    baselines = load_baselines()
    inputs = write_folder(tmp_path / 'identity', {'0001.jpg': textured(1)})
    with pytest.raises(SystemExit, match='overwrite'):
        baselines.main([inputs, inputs, str(tmp_path)])


def test_baselines_on_sintel_frames(tmp_path, capsys):
    sintel = os.path.join(PROJECT_DIR, '..', 'shared', 'data', 'sintel')
    if not os.path.isdir(sintel):
        pytest.skip('../shared/data/sintel is absent')
    (tmp_path / 'list.txt').write_text('\n'.join(sorted(os.listdir(os.path.join(sintel, 'inputs')))[-2:]))
    load_baselines().main([os.path.join(sintel, 'inputs'), os.path.join(sintel, 'outputs'),
                           str(tmp_path / 'b'), '--files-from', str(tmp_path / 'list.txt'), '--json-only'])
    result = json.loads(capsys.readouterr().out)
    assert result['images'] == 2
    assert all(s['paired_metrics']['count'] == 2 for s in result['scores'].values())
