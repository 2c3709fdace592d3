"""fetch_fivek.py against a local HTTP server (127.0.0.1, Range support, failure injection).

No test touches the internet: every run passes the local server as --mirror, and the built-in base
URLs are pointed at a closed local port in case one slips through.
"""
import io
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
import fetch_fivek  # noqa: E402

PACK = 'fivek_dataset/sup_batched80aug_daylight'


# ----------------------------------------------------------------------------------------------
# A file server with Range requests, request log and injected failures

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get('Range')))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start, wanted = 0, self.headers.get('Range')
        if wanted and server.ranges:
            start = int(wanted.split('=')[1].split('-')[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(data)}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        drop = server.drop_after.pop(self.path, None)
        if drop is not None:                 # announce the whole body, send part of it, hang up
            self.wfile.write(body[:drop])
            self.close_connection = True
            if self.path in server.stall:     # ... or go silent instead of hanging up
                self.wfile.flush()
                server.stall[self.path].wait(5)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.files, httpd.requests, httpd.drop_after, httpd.ranges, httpd.stall = {}, [], {}, True, {}
    httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    for event in httpd.stall.values():
        event.set()
    httpd.shutdown()
    httpd.server_close()


def closed_port_url():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}/'


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    base = closed_port_url()
    for name in ('RELEASE_URL', 'FOLDS_URL', 'MODELS_URL'):
        monkeypatch.setattr(fetch_fivek, name, base)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def zip_bytes(members):
    """members: list of (ZipInfo or name, bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for info, data in members:
            z.writestr(info, data)
    return buf.getvalue()


def symlink_info(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def fold_text(ids, header=True):
    return (('# FiveK ids\n' if header else '') + '\n'.join(map(str, ids)) + '\n').encode()


@pytest.fixture
def release(server):
    """A complete, valid mirror: the three release files and the four fold lists."""
    rng = np.random.default_rng(0)
    server.files.update({
        '/image_raw.npy': npy_bytes(rng.random((8, 80, 80, 3), dtype=np.float32)),
        '/meta_raw.pkl': pickle.dumps({'filenames': ['0001.tif', '0002.tif']}),
        '/FiveK_C.zip': zip_bytes([('FiveK_C/0001.jpg', b'\xff\xd8one'), ('FiveK_C/0002.jpg', b'\xff\xd8two')]),
        '/folds/FiveK_train_first2k.txt': fold_text(range(1, 2001)),
        '/folds/FiveK_train_second2k.txt': fold_text(range(2001, 4001), header=False),
        '/folds/FiveK_test.txt': fold_text(range(4001, 5001)),
        '/folds/FiveK_test_AMT.txt': fold_text(range(4001, 4101)),
    })
    return server


def run(server, dest, *extra):
    return fetch_fivek.main(['--mirror', server.url, '--dest', str(dest), *extra])


def leftovers(folder):
    return [p for p in Path(folder).rglob('*') if p.name.endswith('.part') or p.name.startswith('.')]


# ----------------------------------------------------------------------------------------------
# Downloads

def test_complete_download(release, tmp_path, capsys):
    assert run(release, tmp_path) == 0
    assert (tmp_path / PACK / 'image_raw.npy').read_bytes() == release.files['/image_raw.npy']
    assert (tmp_path / PACK / 'meta_raw.pkl').read_bytes() == release.files['/meta_raw.pkl']
    assert sorted(p.name for p in (tmp_path / 'artists' / 'FiveK_C').iterdir()) == ['0001.jpg', '0002.jpg']
    assert not (tmp_path / 'artists' / 'FiveK_C.zip').exists()       # only the extracted folder is kept
    for name in fetch_fivek.FOLDS:
        assert (tmp_path / 'folds' / name).read_bytes() == release.files[f'/folds/{name}']
    assert not leftovers(tmp_path)
    err = capsys.readouterr().err
    assert '100%' in err and 'MB/s' in err and 'ETA' in err


def test_skips_complete_files(release, tmp_path, capsys):
    assert run(release, tmp_path) == 0
    release.requests.clear()
    capsys.readouterr()
    assert run(release, tmp_path) == 0
    assert release.requests == []                                      # nothing asked of the server
    err = capsys.readouterr().err
    assert 'image_raw.npy: already complete, skipped' in err and 'already extracted' in err


def test_interrupted_download_resumes(release, tmp_path, capsys):
    release.drop_after['/image_raw.npy'] = 100_000
    assert run(release, tmp_path, '--only', 'image_raw.npy') == 1
    err = capsys.readouterr().err
    assert 'connection ended after 100000 of' in err and 'run the same command again' in err.lower()
    final = tmp_path / PACK / 'image_raw.npy'
    assert not final.exists()
    assert os.path.getsize(str(final) + '.part') == 100_000

    assert run(release, tmp_path, '--only', 'image_raw.npy') == 0
    assert release.requests[-1] == ('/image_raw.npy', 'bytes=100000-')
    assert final.read_bytes() == release.files['/image_raw.npy']
    assert not leftovers(tmp_path)


def test_silent_server_times_out_and_resumes(release, tmp_path, capsys):
    release.drop_after['/image_raw.npy'] = 50_000
    release.stall['/image_raw.npy'] = threading.Event()
    assert run(release, tmp_path, '--only', 'image_raw.npy', '--timeout', '0.3') == 1
    assert 'connection ended after 50000 of' in capsys.readouterr().err
    assert run(release, tmp_path, '--only', 'image_raw.npy', '--timeout', '0.3') == 0
    assert release.requests[-1] == ('/image_raw.npy', 'bytes=50000-')
    assert (tmp_path / PACK / 'image_raw.npy').read_bytes() == release.files['/image_raw.npy']


def test_resume_without_range_support_restarts(release, tmp_path):
    release.ranges = False
    release.drop_after['/meta_raw.pkl'] = 10
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 1
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 0
    assert (tmp_path / PACK / 'meta_raw.pkl').read_bytes() == release.files['/meta_raw.pkl']


def test_stale_part_larger_than_file_restarts(release, tmp_path):
    part = tmp_path / PACK / 'meta_raw.pkl.part'
    part.parent.mkdir(parents=True)
    part.write_bytes(b'x' * 10_000)                                    # server answers 416
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 0
    assert (tmp_path / PACK / 'meta_raw.pkl').read_bytes() == release.files['/meta_raw.pkl']
    assert not part.exists()


@pytest.mark.parametrize('bad', [
    np.zeros((6, 80, 80, 3), np.float32),           # N not a multiple of 4
    np.zeros((4, 64, 64, 3), np.float32),           # wrong crop size
    np.zeros((4, 80, 80, 3), np.float64),           # wrong dtype
    b'<html>not found</html>',                       # an error page
    'truncated',                                     # header promises more data than the file holds
])
def test_corrupt_pack_is_rejected(release, tmp_path, capsys, bad):
    if isinstance(bad, np.ndarray):
        data = npy_bytes(bad)
    elif bad == 'truncated':
        data = npy_bytes(np.zeros((8, 80, 80, 3), np.float32))[:-1000]
    else:
        data = bad
    release.files['/image_raw.npy'] = data
    assert run(release, tmp_path, '--only', 'image_raw.npy') == 1
    err = capsys.readouterr().err
    assert 'image_raw.npy' in err and 'not valid' in err
    assert not (tmp_path / PACK / 'image_raw.npy').exists()
    assert not leftovers(tmp_path)                                     # next run starts afresh


@pytest.mark.parametrize('page', [b'<!DOCTYPE html><html>Not Found</html>', b'\n  <html><body>moved</body></html>',
                                  b'\xef\xbb\xbf<?xml version="1.0"?><Error/>'])
@pytest.mark.parametrize('name', ['meta_raw.pkl', 'image_raw.npy'])
def test_web_page_instead_of_a_file_is_rejected(release, tmp_path, capsys, name, page):
    release.files[f'/{name}'] = page
    assert run(release, tmp_path, '--only', name) == 1
    err = capsys.readouterr().err
    assert name in err and 'sent a web page instead of the file' in err and '--mirror' in err
    assert not (tmp_path / PACK / name).exists() and not leftovers(tmp_path)


@pytest.mark.parametrize('protocol', [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickles_of_any_protocol_are_accepted_and_cut_ones_rejected(release, tmp_path, capsys, protocol):
    data = pickle.dumps({'filenames': [f'{i:04d}.tif' for i in range(50)]}, protocol=protocol)
    release.files['/meta_raw.pkl'] = data[:-5]
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 1
    assert 'not a complete pickle file' in capsys.readouterr().err
    release.files['/meta_raw.pkl'] = data
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 0
    assert (tmp_path / PACK / 'meta_raw.pkl').read_bytes() == data


def test_size_and_checksum_mismatch_are_rejected(release, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(fetch_fivek.SIZES, 'meta_raw.pkl', 12345)
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 1
    assert 'expected 12345' in capsys.readouterr().err
    monkeypatch.delitem(fetch_fivek.SIZES, 'meta_raw.pkl')
    monkeypatch.setitem(fetch_fivek.SHA256, 'meta_raw.pkl', '0' * 64)
    assert run(release, tmp_path, '--only', 'meta_raw.pkl') == 1
    assert 'sha256' in capsys.readouterr().err
    assert not (tmp_path / PACK / 'meta_raw.pkl').exists() and not leftovers(tmp_path)


def test_bad_fold_list_is_rejected(release, tmp_path, capsys):
    release.files['/folds/FiveK_test.txt'] = fold_text(range(1, 10))
    assert run(release, tmp_path, '--only', 'folds') == 1
    assert 'FiveK_test.txt' in capsys.readouterr().err
    assert not (tmp_path / 'folds' / 'FiveK_test.txt').exists()


def test_http_404_message(server, tmp_path, capsys):
    assert run(server, tmp_path, '--only', 'meta_raw.pkl') == 1
    err = capsys.readouterr().err
    assert f'{server.url}/meta_raw.pkl' in err and 'HTTP 404' in err and '--mirror' in err
    assert not leftovers(tmp_path)


def test_refused_connection_message(tmp_path, capsys):
    url = closed_port_url()
    assert fetch_fivek.main(['--mirror', url, '--dest', str(tmp_path), '--only', 'folds']) == 1
    err = capsys.readouterr().err
    assert url in err and 'cannot connect' in err and 'network' in err


# ----------------------------------------------------------------------------------------------
# Zip safety

UNSAFE = {
    'dotdot': lambda outside: [('FiveK_C/ok.jpg', b'ok'), ('../evil.txt', b'evil')],
    'nested dotdot': lambda outside: [('FiveK_C/../../evil.txt', b'evil')],
    'absolute': lambda outside: [('FiveK_C/ok.jpg', b'ok'), (str(outside / 'evil.txt'), b'evil')],
    'symlink': lambda outside: [(symlink_info('FiveK_C/link'), str(outside).encode()),
                                ('FiveK_C/link/evil.txt', b'evil')],
}


@pytest.mark.parametrize('kind', UNSAFE)
def test_unsafe_zip_is_refused(tmp_path, kind):
    dest, outside = tmp_path / 'dest', tmp_path / 'outside'
    dest.mkdir()
    outside.mkdir()
    archive = tmp_path / 'FiveK_C.zip'
    archive.write_bytes(zip_bytes(UNSAFE[kind](outside)))
    with pytest.raises(fetch_fivek.FetchError, match='refusing unsafe archive member'):
        fetch_fivek.extract(str(archive), str(dest), 'FiveK_C')
    assert list(dest.iterdir()) == [] and list(outside.iterdir()) == []
    assert not (tmp_path / 'evil.txt').exists()


@pytest.mark.parametrize('kind', UNSAFE)
def test_unsafe_zip_download_is_rejected(release, tmp_path, capsys, kind):
    dest, outside = tmp_path / 'dest', tmp_path / 'outside'
    outside.mkdir()
    release.files['/FiveK_C.zip'] = zip_bytes(UNSAFE[kind](outside))
    assert run(release, dest, '--only', 'FiveK_C.zip') == 1
    assert 'refusing unsafe archive member' in capsys.readouterr().err
    assert list((dest / 'artists').iterdir()) == [] and list(outside.iterdir()) == []
    assert not (tmp_path / 'evil.txt').exists()


def test_extract_is_atomic(tmp_path, monkeypatch):
    archive = tmp_path / 'FiveK_C.zip'
    archive.write_bytes(zip_bytes([('FiveK_C/0001.jpg', b'a'), ('FiveK_C/0002.jpg', b'b')]))

    def interrupted(self, path, *args, **kwargs):
        Path(path, 'FiveK_C').mkdir()
        Path(path, 'FiveK_C', '0001.jpg').write_bytes(b'a')
        raise KeyboardInterrupt
    monkeypatch.setattr(zipfile.ZipFile, 'extractall', interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_fivek.extract(str(archive), str(tmp_path), 'FiveK_C')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['FiveK_C.zip']   # no half-extracted folder

    monkeypatch.undo()
    fetch_fivek.extract(str(archive), str(tmp_path), 'FiveK_C')
    assert (tmp_path / 'FiveK_C' / '0002.jpg').read_bytes() == b'b'


def test_zip_without_expected_folder(tmp_path):
    archive = tmp_path / 'x.zip'
    archive.write_bytes(zip_bytes([('other/0001.jpg', b'a')]))
    with pytest.raises(fetch_fivek.FetchError, match='no FiveK_C/ folder'):
        fetch_fivek.extract(str(archive), str(tmp_path), 'FiveK_C')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.zip']


# ----------------------------------------------------------------------------------------------
# --pretrained and --sintel

def test_pretrained(server, tmp_path):
    files = {'model.ckpt-20000.index': b'i' * 9643, 'model.ckpt-20000.data-00000-of-00001': b'd' * 5000,
             'model.ckpt-20000.meta': b'm' * 300, 'scripts/config_example.py': b'#' * 6909}
    server.files.update({f'/example/pretrained/{k}': v for k, v in files.items()})
    models = tmp_path / 'models'
    assert run(server, tmp_path / 'data', '--only', 'pretrained', '--models-dest', str(models)) == 0
    for name, data in files.items():
        assert (models / 'example' / 'pretrained' / name).read_bytes() == data


def test_sintel_skips_absent_frames(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch_fivek, 'SINTEL_FRAMES', range(11, 15))
    monkeypatch.setattr(fetch_fivek, 'SINTEL_COUNT', 3)
    for side in ('inputs', 'outputs'):
        for n in (11, 12, 14):                                         # 0013 does not exist
            server.files[f'/sintel/{side}/{n:04d}.jpg'] = b'\xff\xd8' + side.encode() + bytes([n])
    assert fetch_fivek.main(['--mirror', server.url, '--dest', str(tmp_path), '--only', 'sintel']) == 0
    for side in ('inputs', 'outputs'):
        assert sorted(p.name for p in (tmp_path / 'sintel' / side).iterdir()) == ['0011.jpg', '0012.jpg', '0014.jpg']
    assert '3 frames (1 numbers absent)' in capsys.readouterr().err


def test_incomplete_sintel_mirror_is_an_error_and_resumes(server, tmp_path, capsys, monkeypatch):
    # A mirror with 100 of 721 frames used to end in "done" and exit status 0.
    monkeypatch.setattr(fetch_fivek, 'SINTEL_FRAMES', range(11, 21))
    monkeypatch.setattr(fetch_fivek, 'SINTEL_COUNT', 9)                 # one number does not exist
    frames = {f'/sintel/{side}/{n:04d}.jpg': b'\xff\xd8' + bytes([n]) for side in ('inputs', 'outputs')
              for n in range(11, 21) if n != 13}
    server.files.update({k: v for k, v in frames.items() if not k.endswith(('0015.jpg', '0016.jpg', '0020.jpg'))
                         or '/outputs/' in k})
    args = ['--mirror', server.url, '--dest', str(tmp_path), '--only', 'sintel']
    assert fetch_fivek.main(args) == 1
    err = capsys.readouterr().err
    assert ('sintel/inputs: 3 frames are missing: the server has 6 of the 9; absent numbers: 0013, '
            '0015-0016, 0020 (of which only 1 do not exist)') in err
    assert 'sintel/outputs' not in err.split('error:')[1] and 'run the same command again' in err
    assert 'done' not in err
    assert len(list((tmp_path / 'sintel' / 'inputs').iterdir())) == 6   # kept for the next run

    server.files.update(frames)
    server.requests.clear()
    assert fetch_fivek.main(args) == 0
    fetched = sorted(path for path, _ in server.requests if path.endswith('.jpg'))
    assert fetched == ['/sintel/inputs/0013.jpg', '/sintel/inputs/0015.jpg', '/sintel/inputs/0016.jpg',
                       '/sintel/inputs/0020.jpg', '/sintel/outputs/0013.jpg']   # only what was missing
    assert len(list((tmp_path / 'sintel' / 'inputs').iterdir())) == 9


def test_help_is_fast_and_tensorflow_free():
    code = 'import sys, fetch_fivek; print("tensorflow" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'False'
    with pytest.raises(SystemExit) as e:
        fetch_fivek.main(['--help'])
    assert e.value.code == 0


# ----------------------------------------------------------------------------------------------
# --build-pack

def umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_tiffs(folder, images):
    import tifffile
    folder.mkdir(exist_ok=True)
    for i, img in enumerate(images):
        tifffile.imwrite(folder / f'{i + 1:04d}.tif', img, photometric='rgb')


def test_build_pack(tmp_path):
    rng = np.random.default_rng(1)
    flat = np.full((90, 120, 3), 20000, np.uint16)
    ramp = np.repeat(np.linspace(10000, 50000, 70).astype(np.uint16)[None, :, None], 100, 0).repeat(3, 2)
    noise = rng.integers(30000, 40000, (100, 100, 3), dtype=np.uint16)
    write_tiffs(tmp_path / 'export', [flat, ramp, noise])
    assert fetch_fivek.main(['--build-pack', str(tmp_path / 'export'), '--dest', str(tmp_path / 'data')]) == 0
    out = tmp_path / 'data' / PACK
    pack = np.load(out / 'image_raw.npy')
    assert pack.shape == (12, 80, 80, 3) and pack.dtype == np.float32
    np.testing.assert_allclose(pack[0:4], (20000 / 65535) ** 1.8, rtol=1e-5)     # x^1.8, not x
    for crops, src in ((pack[4:8], ramp), (pack[8:12], noise)):
        lo, hi = (src.min() / 65535) ** 1.8, (src.max() / 65535) ** 1.8
        assert lo - 1e-6 <= crops.min() and crops.max() <= hi + 1e-6
    assert pack[4:8].std() > 0.01                                        # real content, not a fill
    meta = json.loads((out / 'meta_raw.json').read_text())
    assert meta['filenames'] == ['0001.tif', '0002.tif', '0003.tif']
    assert sorted(p.name for p in out.iterdir()) == ['image_raw.npy', 'meta_raw.json']
    assert stat.S_IMODE(os.stat(out / 'image_raw.npy').st_mode) == 0o666 & ~umask()   # not mkstemp's 0600
    fetch_fivek.check_pack(str(out / 'image_raw.npy'))

    again = tmp_path / 'again'
    fetch_fivek.build_pack(str(tmp_path / 'export'), str(again), seed=0)    # the seed fixes the crops
    np.testing.assert_array_equal(np.load(again / PACK / 'image_raw.npy'), pack)
    with pytest.raises(fetch_fivek.FetchError, match='already exists'):      # never overwrites a pack
        fetch_fivek.build_pack(str(tmp_path / 'export'), str(again))


def test_build_pack_stops_on_unreadable_file(tmp_path, capsys):
    write_tiffs(tmp_path / 'export', [np.zeros((50, 60, 3), np.uint16)] * 3)
    (tmp_path / 'export' / '0002.tif').write_bytes(b'II*\x00garbage')
    assert fetch_fivek.main(['--build-pack', str(tmp_path / 'export'), '--dest', str(tmp_path / 'data')]) == 1
    err = capsys.readouterr().err
    assert '0002.tif' in err and 'cannot be skipped' in err
    assert list((tmp_path / 'data' / PACK).iterdir()) == []               # no pack, no temp file


def test_build_pack_needs_tiffs(tmp_path, capsys):
    (tmp_path / 'export').mkdir()
    assert fetch_fivek.main(['--build-pack', str(tmp_path / 'export'), '--dest', str(tmp_path / 'data')]) == 1
    assert 'no .tif/.tiff files' in capsys.readouterr().err
