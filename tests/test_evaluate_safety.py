"""evaluate.py and score.py where users' folders are odd: results of two photos of one name never
taken for each other, names that are not UTF-8 or hold a line break, folders that cannot be read,
results in every format scored, SIGTERM, a closed or full stdout, long names, names that differ only
in case. Every bad input is made here."""
import errno
import json
import os
import pathlib
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

import develop
import evaluate
import score
from conftest import ROOT, unsearchable, without_root
from test_evaluate import leftovers, recipe_run, write_photo, write_recipe


def retouched(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*.retouched.*'))


# ----------------------------------------------------------------------------------------------
# --skip-existing and reruns: a result records the photo it was made from

def test_skip_existing_does_not_take_another_photos_result_for_its_own(tmp_path, capsys):
    """DCIM/100 then DCIM/101 into one folder: the second IMG_0001.JPG is another photo."""
    first = write_photo(tmp_path / 'DCIM' / '100' / 'IMG_0001.JPG', 1)
    second = write_photo(tmp_path / 'DCIM' / '101' / 'IMG_0001.JPG', 2)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, first, '--output-dir', out, '--no-intermediates') == 0
    kept = (out / 'IMG_0001.JPG.retouched.png').read_bytes()
    assert json.load(open(out / 'IMG_0001.JPG.steps.json'))['input']['path'] == os.path.realpath(first)
    capsys.readouterr()
    assert recipe_run(tmp_path, second, '--output-dir', out, '--no-intermediates', '--skip-existing') == 1
    captured = capsys.readouterr()
    assert 'already done' not in captured.out
    assert f'is the result of another photo, {os.path.realpath(first)}; left as it is' in captured.err
    assert (out / 'IMG_0001.JPG.retouched.png').read_bytes() == kept
    # The same photo again is done; without --skip-existing the other photo's result is replaced, said so.
    assert recipe_run(tmp_path, first, '--output-dir', out, '--no-intermediates', '--skip-existing') == 0
    assert 'already done' in capsys.readouterr().out
    assert recipe_run(tmp_path, second, '--output-dir', out, '--no-intermediates') == 0
    assert f'replacing {out / "IMG_0001.JPG.retouched.png"}, the result of another photo of that name' \
        in capsys.readouterr().err
    assert (out / 'IMG_0001.JPG.retouched.png').read_bytes() != kept


def test_skip_existing_redoes_a_photo_changed_since_its_result(tmp_path, capsys):
    photo = write_photo(tmp_path / 'in' / 'a.png', 1)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, photo, '--output-dir', out, '--no-intermediates') == 0
    before = (out / 'a.png.retouched.png').read_bytes()
    write_photo(tmp_path / 'in' / 'a.png', 2)                   # edited in place: other pixels
    capsys.readouterr()
    assert recipe_run(tmp_path, photo, '--output-dir', out, '--no-intermediates', '--skip-existing') == 0
    assert 'changed since its result was made: retouched again' in capsys.readouterr().out
    assert (out / 'a.png.retouched.png').read_bytes() != before


def test_a_recipe_run_records_the_photo_and_the_filter_settings(tmp_path):
    photo = write_photo(tmp_path / 'a.png', 1)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, photo, '--output-dir', out) == 0
    recipe = json.load(open(out / 'a.png.steps.json'))
    stat = os.stat(photo)
    assert recipe['input'] == {'path': os.path.realpath(photo), 'size': stat.st_size, 'mtime_ns': stat.st_mtime_ns}
    assert recipe['filter_settings']['exposure_range'] == 3.5


# ----------------------------------------------------------------------------------------------
# Odd names and folders

def test_a_name_that_is_not_utf8_with_lut_does_not_stop_the_batch(tmp_path):
    """Run as a user runs it (a UTF-8 stdout): the odd name is printed escaped, its .cube written."""
    colour = pytest.importorskip('colour')
    folder = tmp_path / 'in'
    write_photo(folder / 'good.png', 1)
    odd = os.fsdecode(b'caf\xe9.png')                       # Latin-1 bytes, not UTF-8
    write_photo(folder / odd, 2)
    recipe = write_recipe(tmp_path / 'edit.steps.json')
    out = tmp_path / 'out'
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'evaluate.py'), '--recipe', recipe, str(folder),
                          '--output-dir', str(out), '--lut', '--no-intermediates'],
                         capture_output=True, env={**os.environ, 'PYTHONIOENCODING': 'utf-8', 'LC_ALL': 'C.UTF-8'})
    assert run.returncode == 0, run.stderr.decode(errors='replace')
    assert b'Traceback' not in run.stderr and b'2 of 2 images retouched' in run.stdout
    for name in ('good.png', odd):
        table = colour.read_LUT(os.path.join(out, f'{name}.cube'))
        assert table.size == 33
    assert b'caf\\xe9.png' in (out / f'{odd}.cube').read_bytes()


def test_a_line_break_in_a_name_leaves_the_cube_readable(tmp_path):
    colour = pytest.importorskip('colour')
    name = 'two\nlines.png'
    photo = write_photo(tmp_path / 'in' / name, 1)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, photo, '--output-dir', out, '--lut', '--no-intermediates') == 0
    cube = out / f'{name}.cube'
    assert colour.read_LUT(str(cube)).size == 33
    assert all(line.startswith(('#', 'TITLE', 'LUT_3D_SIZE', 'DOMAIN_', '0', '1'))
               for line in cube.read_text().splitlines())


def test_an_unreadable_folder_is_named_and_the_others_are_processed(tmp_path, capsys, monkeypatch):
    """(The suite may run as root, which reads any folder: the refusal is made by os.scandir.)"""
    readable = tmp_path / 'readable'
    write_photo(readable / 'a.png', 1)
    locked = tmp_path / 'locked'
    write_photo(locked / 'b.png', 2)
    real = os.scandir

    def scandir(path='.'):
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, locked, readable, '--output-dir', out, '--no-intermediates') == 1
    captured = capsys.readouterr()
    assert f'skipped: {locked}: cannot list the folder: permission denied' in captured.err
    assert 'Traceback' not in captured.err
    assert retouched(out) == ['a.png.retouched.png']



LOCKED = ('permission denied: the folder locked is not searchable (no x permission), so nothing in it can be '
          'opened: make it searchable (chmod +x locked), or move the files out of it')


def test_a_photo_in_a_folder_without_search_permission_is_said_to_be_so(open_folder, capsys):
    """A folder that may be listed (r) but not searched (no x): its photos' names are found, but they
    cannot be opened, and os.path.isdir/exists take it for missing."""
    recipe = write_recipe('edit.steps.json')
    write_photo(pathlib.Path('ok', 'a.png'), 1)
    write_photo(pathlib.Path('locked', 'b.png'), 2)
    write_photo(pathlib.Path('locked', 'sub', 'c.png'), 3)
    with unsearchable('locked'), without_root():
        code = evaluate.main(['--recipe', recipe, 'locked/b.png', 'locked', 'locked/*.png', 'locked/sub/',
                              'ok/a.png', '--output-dir', 'out', '--no-intermediates'])
    captured = capsys.readouterr()
    assert code == 1 and 'Traceback' not in captured.err and 'no such file' not in captured.err
    assert f'locked/b.png: {LOCKED}' in captured.err and f'locked/sub/: {LOCKED}' in captured.err
    assert captured.err.count('skipped:') == 2               # b.png once, however often it was named
    assert retouched(pathlib.Path(open_folder, 'out')) == ['a.png.retouched.png']


def test_a_recipe_in_a_folder_without_search_permission_is_said_to_be_so(open_folder, capsys):
    os.mkdir('locked')
    recipe = write_recipe(pathlib.Path('locked', 'edit.steps.json'))
    write_photo(pathlib.Path('ok', 'a.png'), 1)
    with unsearchable('locked'), without_root():
        assert evaluate.main(['--recipe', recipe, 'ok/a.png', '--output-dir', 'out']) == 2
    assert capsys.readouterr().err == f'error: cannot read recipe locked/edit.steps.json: {LOCKED}\n'



@pytest.mark.parametrize('fmt, ext', [('png', 'png'), ('png16', 'png'), ('tiff16', 'tif'), ('jpeg', 'jpg')])
def test_score_counts_only_the_results_in_every_format(tmp_path, fmt, ext):
    inputs = tmp_path / 'in'
    for k in range(3):
        write_photo(inputs / f'p{k}.png', k, size=(40, 48))
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, inputs, '--output-dir', out, '--format', fmt) == 0
    assert len(list(out.glob('*.png'))) > 3                    # intermediates and step figures too
    notes = []
    result = score.score_folders(out, inputs, log=notes.append)
    assert result['counts']['outputs'] == 3 and result['counts']['paired'] == 3
    assert any(f'scoring only the 3 *.retouched files' in n for n in notes)


# ----------------------------------------------------------------------------------------------
# One bad input never stops the batch

def test_names_that_differ_only_in_case_get_results_of_their_own(tmp_path, capsys, monkeypatch):
    """On a case-insensitive disk A.png's and a.png's results would be one file: output names are
    compared ignoring case on any disk, so each photo's results keep a name of their own."""
    inputs = tmp_path / 'in'
    upper, lower = write_photo(inputs / 'A.png', 1), write_photo(inputs / 'a.png', 2)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, inputs, '--output-dir', out, '--no-intermediates') == 0
    stdout = capsys.readouterr().out
    assert f'note: {lower} and {upper} differ only in case' in stdout
    assert {name.lower() for name in retouched(out)} == {'a.png.retouched.png', 'a~2.png.retouched.png'}
    for name, photo in [('A.png', upper), ('a~2.png', lower)]:
        assert json.load(open(out / f'{name}.steps.json'))['input']['path'] == os.path.realpath(photo)


def test_a_name_too_long_for_its_results_names_the_cause(tmp_path, capsys):
    """A 240-byte name is a valid file name, but not with '.input_tone_mapped.png' after it."""
    long = write_photo(tmp_path / 'in' / ('x' * 236 + '.png'), 1)
    write_photo(tmp_path / 'in' / 'short.png', 2)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out) == 1
    err = capsys.readouterr().err
    assert f"{long}: its results' names would be too long for the output disk: 262 bytes" in err
    assert 'give the photo a shorter name (or use --no-intermediates)' in err and '--output-dir' not in err
    assert retouched(out) == ['short.png.retouched.png'] and not leftovers(out)
    assert recipe_run(tmp_path, long, '--output-dir', out, '--no-intermediates') == 0     # 254 bytes fit


def interrupt():
    raise KeyboardInterrupt


def terminate():
    os.kill(os.getpid(), signal.SIGTERM)         # what kill and Slurm send


@pytest.mark.parametrize('stop, code, said', [(interrupt, 130, 'interrupted'),
                                              (terminate, 143, 'terminated (SIGTERM)')])
def test_ctrl_c_and_sigterm_keep_finished_results_and_no_temporary_files(tmp_path, capsys, monkeypatch,
                                                                         stop, code, said):
    for k, name in enumerate('abc'):
        write_photo(tmp_path / 'in' / f'{name}.png', k)
    reads = []
    real = develop.read_input

    def stopped_at_the_third(path, encoding):
        reads.append(path)
        if len(reads) == 3:
            stop()
        return real(path, encoding)

    monkeypatch.setattr(develop, 'read_input', stopped_at_the_third)
    out = tmp_path / 'out'
    assert recipe_run(tmp_path, tmp_path / 'in', '--output-dir', out, '--lut') == code
    err = capsys.readouterr().err
    assert f'{said} after 2 of 3 photos; finished results are kept' in err and 'Traceback' not in err
    assert retouched(out) == ['a.png.retouched.png', 'b.png.retouched.png'] and not leftovers(out)
    assert len(list(out.iterdir())) == 18                              # 9 files a photo
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL          # the handler is the run's only


def script(*argv, **kwargs):
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, cwd=ROOT, **kwargs)


@pytest.mark.parametrize('stdout', ['closed pipe', 'full disk'])
def test_a_closed_or_full_stdout_does_not_stop_the_run(tmp_path, stdout):
    for k, name in enumerate('ab'):
        write_photo(tmp_path / 'in' / f'{name}.png', k)
    recipe = write_recipe(tmp_path / 'edit.steps.json')
    out = tmp_path / 'out'
    command = [sys.executable, os.path.join(ROOT, 'evaluate.py'), '--recipe', recipe, str(tmp_path / 'in'),
               '--output-dir', str(out), '--no-intermediates']
    if stdout == 'full disk':
        if not os.path.exists('/dev/full'):
            pytest.skip('no /dev/full here')
        with open('/dev/full', 'w') as full:
            run = subprocess.run(command, stdout=full, stderr=subprocess.PIPE)
        code, err = run.returncode, run.stderr
    else:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.close()                          # as `| head -0` does: the reader has gone
        err = process.stderr.read()
        code = process.wait()
    assert code == 0 and b'Traceback' not in err and b'Exception ignored' not in err, err
    assert retouched(out) == ['a.png.retouched.png', 'b.png.retouched.png']


def test_score_with_a_closed_stdout_says_nothing_and_stops_cleanly(tmp_path):
    folder = tmp_path / 'imgs'
    write_photo(folder / 'a.png', 1)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, 'score.py'), str(folder), str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait() == 0 and b'Traceback' not in err and b'Exception ignored' not in err, err


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(tmp_path, capsys):
    photo = write_photo(tmp_path / 'in' / 'a.png', 1)
    out = tmp_path / 'out'
    out.mkdir()
    stale, live = out / '.tmp-0123456789abcdef.png', out / '.tmp-fedcba9876543210.png'
    stale.write_bytes(b'half a PNG')
    live.write_bytes(b'another run writing now')
    os.utime(stale, (0, 0))                                          # untouched since long ago
    assert recipe_run(tmp_path, photo, '--output-dir', out, '--no-intermediates') == 0
    assert 'removed 1 temporary file left by an interrupted run' in capsys.readouterr().out
    assert not stale.exists() and live.exists()
