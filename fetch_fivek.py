"""Gets the training data: downloads what the original training used (spec 1.2, 7.1, 7.4), or builds a
FiveK-style input pack from your own Lightroom export (spec 7.2).

    python fetch_fivek.py                       # FiveK input pack, expert C targets, fold lists (~2.4 GB)
    python fetch_fivek.py --pretrained --sintel # ... plus the authors' checkpoint and the Sintel frames
    python fetch_fivek.py --build-pack EXPORT   # image_raw.npy from 16-bit TIFFs 0001.tif, 0002.tif, ...

Downloads resume where they stopped (run the same command again), land under their final names only
once complete and checked, and archives are extracted only if every member stays inside the target.
Standard library HTTP only; image_io (and with it OpenCV) is imported by --build-pack alone.
"""
import argparse
import hashlib
import http.client
import json
import os
import pickletools
import re
import shutil
import stat
import sys
import time
import urllib.error
import urllib.request
import zipfile

import numpy as np

import atomic

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))
RELEASE_URL = 'https://github.com/yuanming-hu/exposure_models/releases/download/v0.0.1/'
FOLDS_URL = 'https://raw.githubusercontent.com/yuanming-hu/exposure/master/data/folds/'
MODELS_URL = 'https://github.com/yuanming-hu/exposure_models/raw/master/'  # holds example/ and sintel/

PACK_DIR = os.path.join('fivek_dataset', 'sup_batched80aug_daylight')
ASSETS = {'FiveK_C.zip': 'artists', 'image_raw.npy': PACK_DIR, 'meta_raw.pkl': PACK_DIR}  # -> folder
FOLDS = {'FiveK_train_first2k.txt': 2000, 'FiveK_train_second2k.txt': 2000,   # -> number of ids
         'FiveK_test.txt': 1000, 'FiveK_test_AMT.txt': 100}
PRETRAINED = ['model.ckpt-20000.index', 'model.ckpt-20000.data-00000-of-00001',
              'model.ckpt-20000.meta', 'scripts/config_example.py']
SINTEL_FRAMES = range(11, 747)      # 0011.jpg .. 0746.jpg
SINTEL_COUNT = 721                  # frames of each side: 15 numbers of the range do not exist (spec 1.2)
SIZES = {'model.ckpt-20000.index': 9643, 'config_example.py': 6909}  # bytes, from the git tree
SHA256 = {}                         # file name -> hex digest; none published yet
BLOCK = 64 * 1024
PACK_CROPS, PACK_SIZE = 4, 80       # spec 7.2: 4 random square crops per photo, 80x80


class FetchError(Exception):
    """A download or build that cannot go on. The message names the file or URL and what to do."""


# ----------------------------------------------------------------------------------------------
# Progress

class Progress:
    """One status line on stderr (done/total, rate, ETA), redrawn at most 5 times a second."""

    def __init__(self, label, total, done=0, unit='MB', enabled=True):
        self.label, self.total, self.first, self.unit, self.enabled = label, total, done, unit, enabled
        self.scale = 1e6 if unit == 'MB' else 1
        self.t0 = self.last = time.monotonic()

    def update(self, done, force=False):
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and not force):
            return
        self.last = now
        rate = (done - self.first) / max(now - self.t0, 1e-6)
        amount = f'{done / self.scale:.1f}' if self.unit == 'MB' else f'{done}'
        text = f'{self.label} {amount} {self.unit}'
        if self.total:
            frac = min(done / self.total, 1.0)
            eta = time.strftime('%H:%M:%S', time.gmtime((self.total - done) / rate)) if rate > 0 else '--:--:--'
            total = f'{self.total / self.scale:.1f}' if self.unit == 'MB' else f'{self.total}'
            text = (f'{self.label} {frac:4.0%} |{"#" * int(frac * 20):<20}| {amount}/{total} {self.unit} '
                    f'{rate / self.scale:.1f} {self.unit}/s ETA {eta}')
        sys.stderr.write('\r' + text.ljust(79))
        sys.stderr.flush()

    def close(self, done):
        self.update(done, force=True)
        if self.enabled:
            sys.stderr.write('\n')


# ----------------------------------------------------------------------------------------------
# Integrity checks: each raises FetchError(reason)

def check_pack(path):
    """An input pack must be a float32 .npy of shape (N, 80, 80, 3), N a multiple of 4 (spec 7.2)."""
    try:
        pack = np.load(path, mmap_mode='r', allow_pickle=False)  # mmap: checks the length, reads nothing
    except Exception as e:
        raise FetchError(f'{path}: not a loadable .npy array ({type(e).__name__}: {e})') from None
    shape, dtype = pack.shape, pack.dtype
    del pack
    if dtype != np.float32 or len(shape) != 4 or shape[1:] != (PACK_SIZE, PACK_SIZE, 3) \
            or shape[0] == 0 or shape[0] % PACK_CROPS:
        raise FetchError(f'{path}: expected float32 (N, 80, 80, 3) with N a multiple of 4, '
                         f'got {dtype} {shape}')


def check_fold(path, count):
    """A fold list holds `count` FiveK ids (1..5000), one a line; '#' lines are comments."""
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]
    if len(lines) != count or not all(line.isdigit() and 1 <= int(line) <= 5000 for line in lines):
        raise FetchError(f'{path}: expected {count} FiveK ids (1..5000) one per line; this is not a fold list')


def check_zip_member(info, zip_path):
    """Refuses members that would land outside the extraction folder."""
    name = info.filename
    if name.startswith(('/', '\\')) or re.match(r'^[A-Za-z]:', name):
        why = 'absolute path'
    elif '..' in re.split(r'[/\\]', name):
        why = "'..' in the path"
    elif stat.S_ISLNK(info.external_attr >> 16):
        why = 'symbolic link'
    else:
        return
    raise FetchError(f'{zip_path}: refusing unsafe archive member {name!r} ({why}); nothing was extracted. '
                     'The archive is corrupt or was tampered with')


def check_not_web_page(path):
    """A server may answer for a missing file with an HTML page (status 200): none of ours is one."""
    with open(path, 'rb') as f:
        head = f.read(256).lstrip(b'\xef\xbb\xbf \t\r\n')
    if head.startswith(b'<'):
        raise FetchError(f'{path}: the server sent a web page instead of the file '
                         f'({head[:40].decode("ascii", "replace")!r}...); the URL or mirror is wrong')


def check_pickle(path):
    """Walks a pickle's opcodes to its end (pickletools builds and runs nothing)."""
    try:
        with open(path, 'rb') as f:
            for _ in pickletools.genops(f):
                pass
    except Exception as e:  # pickletools raises several types for a malformed stream
        raise FetchError(f'{path}: not a complete pickle file ({type(e).__name__}: {e})') from None


def verify(path, name):
    """Checks a finished download (still under its temporary name) by what `name` should be."""
    check_not_web_page(path)
    size = os.path.getsize(path)
    if name in SIZES and size != SIZES[name]:
        raise FetchError(f'{name}: {size} bytes, expected {SIZES[name]}')
    if name in SHA256:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        if digest.hexdigest() != SHA256[name]:
            raise FetchError(f'{name}: sha256 {digest.hexdigest()} differs from the expected {SHA256[name]}')
    if name.endswith('.npy'):
        check_pack(path)
    elif name.endswith('.pkl'):
        check_pickle(path)
    elif name in FOLDS:
        check_fold(path, FOLDS[name])
    elif name.endswith('.zip'):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    check_zip_member(info, name)
        except zipfile.BadZipFile as e:
            raise FetchError(f'{name}: not a zip archive ({e})') from None
    elif name.endswith('.jpg'):
        with open(path, 'rb') as f:
            if f.read(2) != b'\xff\xd8':
                raise FetchError(f'{name}: not a JPEG file')


# ----------------------------------------------------------------------------------------------
# Downloading

ADVICE = 'Check the network connection and retry (downloads resume), or use --mirror URL.'


def http_advice(code):
    if code == 404:
        return 'The file is not at this address: check the --mirror URL, or use another mirror.'
    return 'Retry later (downloads resume), or use --mirror URL.'


def content_range(header):
    """'bytes 100-199/1000' -> (100, 1000); 'bytes */1000' -> (None, 1000); total None if '*'."""
    m = re.match(r'bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)', header or '')
    if not m:
        return None, None
    return (int(m.group(1)) if m.group(1) else None), (int(m.group(2)) if m.group(2) != '*' else None)


def download(url, path, timeout, quiet=False, missing_ok=False):
    """url -> path through path + '.part' (resumed with an HTTP Range request), checked, then renamed.

    Skips a path that already exists. Returns False instead of failing on HTTP 404 when missing_ok.
    """
    name = os.path.basename(path)
    if os.path.exists(path):
        try:
            verify(path, name)
        except FetchError as e:
            raise FetchError(f'{path} exists but is not valid ({e}); delete it and run again') from None
        if not quiet:
            print(f'{name}: already complete, skipped', file=sys.stderr)
        return True
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part = path + '.part'
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {'User-Agent': 'exposure-fetch', **({'Range': f'bytes={offset}-'} if offset else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:    # nothing after `offset`: the part is complete, or stale
            if content_range(e.headers.get('Content-Range'))[1] == offset:
                return finish(part, path, url)
            os.remove(part)
            return download(url, path, timeout, quiet, missing_ok)
        if e.code == 404 and missing_ok:
            return False
        raise FetchError(f'{url}: the server answered HTTP {e.code} {e.reason}. {http_advice(e.code)}') from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, 'reason', e)
        raise FetchError(f'{url}: cannot connect ({reason}); are you offline? {ADVICE}') from None
    with response:
        if getattr(response, 'status', None) == 206:
            start, total = content_range(response.headers.get('Content-Range'))
            if start != offset:
                raise FetchError(f'{url}: the server resumed at byte {start}, not {offset}; '
                                 f'delete {part} and run again')
        else:                           # a full answer (no Range support, or a fresh start)
            offset, total = 0, response.headers.get('Content-Length')
            total = int(total) if total and total.isdigit() else None
        done, error = offset, None
        progress = Progress(name, total, done, enabled=not quiet)
        with open(part, 'ab' if offset else 'wb') as f:
            try:
                while block := response.read1(BLOCK):  # read1: keep what arrived before a stall
                    f.write(block)
                    done += len(block)
                    progress.update(done)
            except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
                error = e
        progress.close(done)
    if error is not None or (total is not None and done != total):
        raise FetchError(f'{url}: the connection ended after {done} of {total or "?"} bytes'
                         f'{f" ({error})" if error else ""}. Run the same command again to resume from there, '
                         'or use --mirror URL.')
    return finish(part, path, url)


def finish(part, path, url):
    """Moves a checked download into place; a bad one is deleted so the next run starts afresh."""
    try:
        verify(part, os.path.basename(path))
    except FetchError as e:
        os.remove(part)
        raise FetchError(f'{url}: the downloaded file is not valid: {e}. It was deleted; run again to '
                         'download it afresh, or use --mirror URL') from None
    os.replace(part, path)
    return True


def extract(zip_path, dest_dir, folder):
    """Extracts the archive's `folder` to dest_dir/folder: into a temporary folder first, then renamed.
    A killed extraction's folder is cleared first: it holds up to a whole archive's photos."""
    atomic.remove_stale_temporaries(dest_dir)
    tmp = None
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                check_zip_member(info, zip_path)
            tmp = atomic.temporary_path(dest_dir)
            os.mkdir(tmp)
            archive.extractall(tmp)
        if not os.path.isdir(os.path.join(tmp, folder)):
            raise FetchError(f'{zip_path}: the archive holds no {folder}/ folder')
        os.replace(os.path.join(tmp, folder), os.path.join(dest_dir, folder))
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise FetchError(f'{zip_path}: cannot extract ({type(e).__name__}: {e}); delete it and run again') from None
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def fetch(targets, dest, models_dest, mirror, timeout):
    """Downloads the named targets: asset names, 'folds', 'pretrained', 'sintel'."""
    base = mirror.rstrip('/') + '/' if mirror else None
    release, folds, models = (base, base + 'folds/', base) if base else (RELEASE_URL, FOLDS_URL, MODELS_URL)
    for name, folder in ASSETS.items():
        if name not in targets:
            continue
        path = os.path.join(dest, folder, name)
        if name.endswith('.zip'):       # FiveK_C.zip holds FiveK_C/; only the extracted folder is kept
            unpacked = path[:-len('.zip')]
            if os.path.isdir(unpacked):
                print(f'{unpacked}: already extracted, skipped', file=sys.stderr)
                continue
            download(release + name, path, timeout)
            print(f'extracting {name} ...', file=sys.stderr)
            extract(path, os.path.dirname(path), os.path.basename(unpacked))
            os.remove(path)
            print(f'{unpacked}: {len(os.listdir(unpacked))} files', file=sys.stderr)
        else:
            download(release + name, path, timeout)
    if 'folds' in targets:
        for name in FOLDS:
            download(folds + name, os.path.join(dest, 'folds', name), timeout, quiet=True)
        print(f'fold lists: {os.path.join(dest, "folds")}', file=sys.stderr)
    if 'pretrained' in targets:
        for name in PRETRAINED:
            download(f'{models}example/pretrained/{name}',
                     os.path.join(models_dest, 'example', 'pretrained', *name.split('/')), timeout)
    if 'sintel' in targets:
        incomplete = [fetch_sintel(side, models, dest, timeout) for side in ('inputs', 'outputs')]
        if any(incomplete):
            raise FetchError('; '.join(filter(None, incomplete)) + '. The frames downloaded are kept: run '
                             'the same command again to fetch the rest, or use --mirror URL with a '
                             'complete copy')


def fetch_sintel(side, models, dest, timeout):
    """Downloads one side's frames; returns what is missing (None when all SINTEL_COUNT are there)."""
    progress, absent = Progress(f'sintel/{side}', len(SINTEL_FRAMES), unit='frames'), []
    for i, n in enumerate(SINTEL_FRAMES):
        frame = f'{n:04d}.jpg'
        if not download(f'{models}sintel/{side}/{frame}', os.path.join(dest, 'sintel', side, frame),
                        timeout, quiet=True, missing_ok=True):
            absent.append(n)
        progress.update(i + 1)
    progress.close(len(SINTEL_FRAMES))
    present = len(SINTEL_FRAMES) - len(absent)
    print(f'sintel/{side}: {present} frames ({len(absent)} numbers absent)', file=sys.stderr)
    if present >= SINTEL_COUNT:
        return None
    return (f'sintel/{side}: {SINTEL_COUNT - present} frames are missing: the server has {present} of the '
            f'{SINTEL_COUNT}; absent numbers: {number_ranges(absent)} (of which only '
            f'{len(SINTEL_FRAMES) - SINTEL_COUNT} do not exist)')


def number_ranges(numbers):
    """[11, 12, 13, 20] -> '0011-0013, 0020' (sorted input)."""
    runs = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ', '.join(f'{a:04d}' if a == b else f'{a:04d}-{b:04d}' for a, b in runs)


# ----------------------------------------------------------------------------------------------
# Building a pack from your own export (spec 7.2)

def build_pack(folder, dest, seed=0):
    """16-bit ProPhoto TIFFs (sorted) -> <dest>/fivek_dataset/sup_batched80aug_daylight/image_raw.npy
    (float32 (4N, 80, 80, 3), linearized with x^1.8) and meta_raw.json naming the source files."""
    import image_io  # here, not at the top: it imports OpenCV, which downloading does not need
    if not os.path.isdir(folder):
        raise FetchError(f'{folder}: no such folder; pass the folder of your exported TIFFs')
    files = [p for p in image_io.list_images([folder]) if p.lower().endswith(image_io.TIFF_EXTENSIONS)]
    if not files:
        raise FetchError(f'{folder}: no .tif/.tiff files; export the photos from Lightroom as 16-bit '
                         'ProPhoto TIFF named 0001.tif, 0002.tif, ...')
    out_dir = os.path.join(dest, PACK_DIR)
    out, meta = os.path.join(out_dir, 'image_raw.npy'), os.path.join(out_dir, 'meta_raw.json')
    if os.path.exists(out):
        raise FetchError(f'{out} already exists; move it away or pass another --dest')
    os.makedirs(out_dir, exist_ok=True)
    atomic.remove_stale_temporaries(out_dir)     # a killed run's pack: up to 1.5 GB
    rng = np.random.default_rng(seed)
    # The meta file first, the pack last: the pack's presence means the pair is complete.
    with atomic.publish([meta, out]) as (meta_tmp, tmp):
        # Written crop by crop through a memory map: 5000 photos make a 1.5 GB pack. open_memmap
        # creates the file: the usual permissions.
        pack = np.lib.format.open_memmap(tmp, mode='w+', dtype=np.float32,
                                         shape=(PACK_CROPS * len(files), PACK_SIZE, PACK_SIZE, 3))
        progress = Progress('pack', len(files), unit='images')
        for i, path in enumerate(files):
            try:
                img = image_io.linearize(image_io.read_image(path), 'prophoto')
            except image_io.ImageError as e:
                # Pack index i // 4 is fold id - 1, so a photo cannot be dropped without shifting the rest.
                raise FetchError(f'{e}. Fix or re-export this file and run again; a pack must hold every '
                                 'photo in order, so it cannot be skipped') from None
            pack[PACK_CROPS * i:PACK_CROPS * (i + 1)] = image_io.random_square_crops(img, PACK_CROPS, PACK_SIZE, rng)
            progress.update(i + 1)
        progress.close(len(files))
        pack.flush()
        del pack
        with open(meta_tmp, 'x', encoding='utf-8') as f:
            json.dump({'filenames': [os.path.basename(p) for p in files], 'source': os.path.abspath(folder),
                       'seed': seed, 'encoding': 'prophoto (x^1.8)'}, f, indent=1)
    print(f'{out}: {PACK_CROPS * len(files)} crops of {len(files)} photos', file=sys.stderr)
    return out


# ----------------------------------------------------------------------------------------------
# Command line

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Download the data the original Exposure training used (FiveK input pack image_raw.npy '
                    '+ meta_raw.pkl, expert C targets FiveK_C/, fold lists), or build an input pack from '
                    'your own 16-bit TIFF export with --build-pack.',
        epilog='Downloads resume: run the same command again after an interruption. A mirror holds the '
               'release files at its top, the fold lists under folds/, and example/pretrained/ and '
               'sintel/{inputs,outputs}/ as in the exposure_models repository. '
               'Example: python fetch_fivek.py --only folds --only image_raw.npy')
    parser.add_argument('--dest', default=os.path.join(PROJECT_DIR, 'data'), metavar='DIR',
                        help='data folder (default: the project\'s data/)')
    parser.add_argument('--mirror', metavar='URL', help='download the same file names from this base URL')
    parser.add_argument('--only', action='append', metavar='NAME',
                        choices=[*ASSETS, 'folds', 'pretrained', 'sintel'],
                        help='download only this item (repeatable): ' + ', '.join([*ASSETS, 'folds']) +
                             ', pretrained, sintel (default: all but pretrained and sintel)')
    parser.add_argument('--pretrained', action='store_true',
                        help='also download the authors\' checkpoint into models/example/pretrained/')
    parser.add_argument('--sintel', action='store_true',
                        help='also download the Sintel frames of config_sintel.py into DEST/sintel/')
    parser.add_argument('--models-dest', default=os.path.join(PROJECT_DIR, 'models'), metavar='DIR',
                        help='models folder for --pretrained (default: the project\'s models/)')
    parser.add_argument('--timeout', type=float, default=60, metavar='SECONDS',
                        help='give up on a silent connection after this long (default: 60)')
    parser.add_argument('--build-pack', metavar='FOLDER',
                        help='build image_raw.npy and meta_raw.json in DEST/' + PACK_DIR + '/ from the '
                             '16-bit ProPhoto TIFFs in FOLDER (sorted; 4 random 80x80 crops each)')
    parser.add_argument('--seed', type=int, metavar='N', help='crop randomness of --build-pack (default: 0)')
    args = parser.parse_args(argv)
    if args.seed is not None and not args.build_pack:
        parser.error('--seed only applies to --build-pack')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.build_pack:
            build_pack(args.build_pack, args.dest, 0 if args.seed is None else args.seed)
            return 0
        targets = set(args.only or [*ASSETS, 'folds'])
        targets |= {'pretrained'} if args.pretrained else set()
        targets |= {'sintel'} if args.sintel else set()
        fetch(targets, args.dest, args.models_dest, args.mirror, args.timeout)
    except FetchError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\ninterrupted; run the same command again to resume', file=sys.stderr)
        return 130
    print(f'done: {args.dest}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
