"""Image files in and out: reading any supported photo (checked, upright, 8/16-bit kept), colour
encodings, metadata carried over, atomic writing, and the crops of spec 7.2, 7.3, 8.2.

Image arrays are float32 (H, W, 3) RGB; values are in [0, 1] when read, and may exceed 1 after
filters. Every unusable input raises ImageError naming the file and the fix; every failed write an
OutputError.
The files' bytes (kind, completeness, EXIF and profile) are containers.py's job.
"""
import contextlib
import errno
import glob
import io
import os
import stat
import sys
import threading
import warnings

import cv2
import numpy as np

import atomic
import containers

# Spec 3.1's luminance weights (R, G, B). They live here, not in util.py, so that reading images and
# their statistics does not import TensorFlow; util.lum uses the same weights.
LUM_WEIGHTS = (0.27, 0.67, 0.06)

# ----------------------------------------------------------------------------------------------
# Image input

class ImageError(Exception):
    """An input image that cannot be used. The message names the file and says what is wrong."""


TIFF_EXTENSIONS = ('.tif', '.tiff')
RAW_EXTENSIONS = ('.dng', '.cr2', '.cr3', '.nef', '.arw', '.kdc', '.raf', '.orf', '.rw2', '.pef',
                  '.srw', '.raw', '.nrw', '.sr2', '.3fr', '.erf', '.mrw', '.x3f', '.iiq', '.rwl')
IMAGE_EXTENSIONS = TIFF_EXTENSIONS + ('.png', '.jpg', '.jpeg', '.webp', '.heic', '.heif', '.avif') + RAW_EXTENSIONS
MAX_PIXELS = 400_000_000   # refused before decoding (a 24 MP photo is 24e6); docs/PERFORMANCE.md: its memory
ZERO_TAIL_BYTES = 4096     # a disk block: see _warn_if_zero_padded

# How stored values become the agent's linear input (spec 8.2), per encoding a dataset declares so that
# training and evaluation see the same values: the exponent (srgb is then scaled, see linearize).
ENCODING_EXPONENTS = {'display': 1.0, 'linear': 1.0, 'prophoto': 1.8, 'srgb': 2.2}
ENCODINGS = tuple(ENCODING_EXPONENTS)


def default_encoding(path):
    """The original's rule: TIFF is gamma-1.8 ProPhoto; RAW decodes to linear; JPEG/PNG are sRGB, and
    so are WebP, HEIC and AVIF, display-referred like them."""
    ext = os.path.splitext(path)[1].lower()
    if ext in TIFF_EXTENSIONS:
        return 'prophoto'
    if ext in RAW_EXTENSIONS:
        return 'linear'
    return 'srgb'


def linearize(img, encoding):
    """Stored values in [0, 1] -> the domain the agent sees.

    display / linear: unchanged (display-referred training data such as Sintel keeps its values).
    prophoto: x^1.8 (the FiveK Lightroom export).
    srgb: x^2.2, then scaled so the maximum is 0.5 ("mimic RAW exposure", as the original did for
          JPEG/PNG; applied identically when training on 'srgb' folders so both see one domain).
    """
    if encoding not in ENCODING_EXPONENTS:
        raise ValueError(f"unknown colour encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    exponent = ENCODING_EXPONENTS[encoding]
    if exponent == 1.0:
        return img
    img = np.power(img, exponent, dtype=np.float32)
    return img * srgb_gain(img.max()) if encoding == 'srgb' else img


def srgb_to_linear(x):
    """The sRGB transfer function (IEC 61966-2-1) inverted: stored values -> linear light."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x):
    """Linear light -> sRGB stored values, clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def srgb_gain(peak):
    """The srgb encoding's scale: it takes the linearized image's maximum `peak` to 0.5."""
    return np.float32(0.5 / max(float(peak), 1e-6))


# Full scale of each integer sample type: stored value / full scale is in [0, 1].
FULL_SCALE = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _to_rgb(arr, path):
    """uint8/uint16/float array (H, W[, C]) in file channel order -> RGB (H, W, 3) samples, checked:
    integers as stored, floats as float32 in [0, 1]."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{path}: not a 2-D image (array shape {arr.shape})")
    channels = arr.shape[2]
    if channels in (1, 2):           # grey (+ alpha): replicate the grey channel
        arr = np.repeat(arr[..., :1], 3, axis=2)
    elif channels >= 4:              # drop alpha / extra samples
        arr = arr[..., :3]
    if arr.dtype.kind == 'f':
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ImageError(f"{path}: contains NaN or infinite values; re-export the image")
        arr = np.clip(arr, 0.0, None)
        if arr.max() > 1.0:
            raise ImageError(f"{path}: floating-point image with values above 1 (max {arr.max():.3g});"
                             " export it normalized to [0, 1] or as 8/16-bit")
    elif arr.dtype not in FULL_SCALE:
        raise ImageError(f"{path}: unsupported sample type {arr.dtype}; use 8- or 16-bit images")
    return np.ascontiguousarray(arr)


def _to_rgb_alpha(arr, path):
    """_to_rgb, and the alpha channel (H, W) of a grey + alpha or RGBA array as stored (floats in
    [0, 1]), or None without one or when every pixel is opaque (an alpha channel that says nothing)."""
    alpha = None
    if arr.ndim == 3 and (arr.shape[2] == 2 or arr.shape[2] >= 4):
        alpha = arr[..., 1 if arr.shape[2] == 2 else 3]
        if alpha.dtype.kind == 'f':
            alpha = np.clip(np.nan_to_num(alpha), 0.0, 1.0).astype(np.float32)
        opaque = 1.0 if alpha.dtype.kind == 'f' else FULL_SCALE.get(alpha.dtype)
        alpha = None if alpha.min() == opaque else np.ascontiguousarray(alpha)
    return _to_rgb(arr, path), alpha


def _unpremultiply(arr):
    """RGBA with associated alpha (colour multiplied by alpha, as GIMP writes TIFF) -> the colour itself
    (unassociated, as PNG stores it); fully transparent pixels keep black."""
    full = np.float32(1.0 if arr.dtype.kind == 'f' else FULL_SCALE[arr.dtype])
    alpha = arr[..., 3:4].astype(np.float32)
    colour = arr[..., :3] * (full / np.maximum(alpha, np.float32(1e-6) * full))
    colour = np.minimum(colour, full)
    out = arr.copy()
    out[..., :3] = colour if arr.dtype.kind == 'f' else np.rint(colour)
    return out


def to_float(samples):
    """Samples (uint8, uint16, or float32 in [0, 1]) -> float32 in [0, 1]: x / 255, x / 65535."""
    if samples.dtype in FULL_SCALE:
        return samples.astype(np.float32) / np.float32(FULL_SCALE[samples.dtype])
    return samples


KIND_NAMES = {'png': 'PNG', 'jpeg': 'JPEG', 'webp': 'WebP'}
ORIENTATION_TAG = 0x0112           # EXIF/TIFF Orientation


MAX_NAME_BYTES = 255      # one name in a path, on every common file system


def unsearchable_folder(path):
    """The folder on path's way that this user may not search (no x permission), or None. Such a
    folder's names can still be listed, but nothing in it can be stat'ed or opened (os.stat says
    EACCES, which os.path.exists and isdir take for 'missing'): it is the deepest part of the path
    that can be stat'ed below which nothing can. (os.access would ask for the real user, not the
    effective one.)"""
    part = path
    while True:
        try:
            os.stat(part)
            return None if part == path else part
        except PermissionError:
            pass
        except OSError:
            return None
        parent = os.path.dirname(part.rstrip(os.sep)) or ('.' if not os.path.isabs(part) else os.sep)
        if parent == part:
            return None
        part = parent


def permission_problem(path):
    """reading_problem's words if path cannot be looked at for want of permission (os.path.exists and
    isdir then say False, as for a missing path), else None."""
    try:
        os.stat(path)
    except PermissionError as e:
        return reading_problem(path, e)
    except OSError:
        pass
    return None


def reading_problem(path, e):
    """What an OSError met reading `path` means for the user, and the fix."""
    if e.errno == errno.ENOENT:
        return 'no such file'
    if e.errno == errno.EACCES:
        folder = unsearchable_folder(path)
        if folder is not None:
            return (f'permission denied: the folder {folder} is not searchable (no x permission), so nothing '
                    f'in it can be opened: make it searchable (chmod +x {folder}), or move the files out of it')
        return 'permission denied: make the file readable (chmod +r), or copy it'
    if e.errno == errno.ENAMETOOLONG:
        longest = max(len(os.fsencode(part)) for part in path.split(os.sep))
        if longest > MAX_NAME_BYTES:
            return (f'a name in the path is {longest} bytes long, longer than file systems allow '
                    f'({MAX_NAME_BYTES} bytes): check the name, or rename the file')
        return f'the path is too long ({len(os.fsencode(path)):,} bytes): move the file to a shorter path'
    if e.errno == errno.ENOTDIR:
        return 'a part of the path is a file, not a folder'
    return f'cannot read the file ({e.strerror or e})'


def _read_bytes(path, count=-1):
    try:
        with open(path, 'rb') as f:
            return f.read(count)
    except OSError as e:
        raise ImageError(f"{path}: {reading_problem(path, e)}") from None


_WARNINGS_LOCK = threading.Lock()    # catch_warnings swaps process-wide state: one block at a time


@contextlib.contextmanager
def _named_warnings(path, quiet=False):
    """Python warnings raised inside (Pillow's "Truncated File Read" for a corrupt EXIF block, ...)
    printed once each with the file's name, instead of the library's line without it; quiet: not
    printed (said when the file was read)."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        yield
    if not quiet:
        for message in dict.fromkeys(str(w.message) for w in caught):
            print(f"warning: {path}: {message}", file=sys.stderr)


def _damaged(path, kind, detail):
    return ImageError(f"{path}: {containers.damaged(kind, detail)}")


def _layout(data, path, kind):
    """containers.layout of a PNG, JPEG or WebP file's bytes, its errors naming the file."""
    try:
        return containers.layout(data, kind)
    except containers.LayoutError as e:
        raise ImageError(f"{path}: {e}") from None


def _warn_if_zero_padded(path, data, kind):
    """Warns of a copy cut short and padded with zeros to its full size (a preallocated download, a
    card copy interrupted): its headers and lengths are intact, and the WebP and HEIC decoders turn
    the zeros into a plausible but wrong bottom of the image without an error (JPEG and PNG keep an
    end marker, which the zeros overwrite, so they are errors). Compressed image data ends in a whole
    disk block of zeros only in such damage or at the end of a huge uniform area (a 12-megapixel
    all-black lossy WebP ends in 1.2 KB of zeros), so it is a warning, and the image is still read."""
    zeros = len(data) - len(data.rstrip(b'\0'))
    if zeros >= ZERO_TAIL_BYTES:
        print(f"warning: {path}: the last {zeros:,} bytes of this {kind} file are zeros, as in a copy cut "
              "short and padded to its full size (an interrupted download or card copy); if the bottom "
              "of the image looks wrong, copy the file again", file=sys.stderr)


def _check_size(path, width, height):
    """Refuses absurd sizes before decoding allocates them (a header may also simply lie)."""
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: image too large ({width}x{height}: {width * height / 1e6:,.0f} megapixels, over "
                         f"the limit of {MAX_PIXELS / 1e6:.0f}, which retouching fits in 16 GB of memory); "
                         "downscale it first")


def _read_with_opencv(path, kind):
    """PNG, JPEG or WebP through OpenCV, unchanged (16-bit PNG keeps its bits), once the file is known
    to be complete and of a sane size. -> (samples in RGB order, EXIF orientation)."""
    data = _read_bytes(path)
    layout = _layout(data, path, kind)
    _check_size(path, *layout['size'])
    if kind == 'webp':
        _warn_if_zero_padded(path, data, 'WebP')
    if kind == 'png':
        data = containers.png_pixels(data)
    if kind == 'jpeg' and layout['components'] == 4:
        return _read_cmyk_jpeg(path, data, layout['icc']), _exif_orientation(layout['exif'], path)
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise _damaged(path, KIND_NAMES[kind], f'OpenCV: {e.err}') from None
    if arr is None:
        raise _damaged(path, KIND_NAMES[kind], 'OpenCV cannot decode it')
    if arr.ndim == 3 and arr.shape[2] >= 3:   # OpenCV gives BGR(A); RGB(A) comes out contiguous
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return arr, _exif_orientation(layout['exif'], path)


def _read_cmyk_jpeg(path, data, icc):
    """A CMYK JPEG (a print separation, some stock photos) as sRGB: through its colour profile with
    LittleCMS (Pillow's ImageCms), as an editor shows it; without a usable profile by the plain
    conversion (each ink taking its share of light away), with a note. (OpenCV gives the plain one.)"""
    from PIL import ImageCms, JpegImagePlugin
    try:
        image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))   # the plugin: Image.open refuses > 179 MP
        image.load()        # Adobe's inverted CMYK is undone by Pillow
    except Exception as e:  # Pillow raises many types for damaged files
        raise _damaged(path, 'JPEG', f'Pillow: {e}') from None
    why = 'it has no colour profile'
    if icc:
        try:
            rgb = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            ImageCms.createProfile('sRGB'), outputMode='RGB')
            _note_once(path, "a CMYK JPEG, converted to sRGB through its colour profile as it is read")
            return np.array(rgb)
        except ImageCms.PyCMSError as e:
            why = f'its colour profile cannot be used ({e})'
    _note_once(path, f"a CMYK JPEG and {why}: converted to RGB without one (each ink taking its share of "
                     "light away), so its colours may differ from what an editor shows")
    return np.array(image.convert('RGB'))


_NOTED = set()     # (file, note) already said by this process: evaluate.py reads a big photo twice


def _note_once(path, message):
    if (path, message) not in _NOTED:
        _NOTED.add((path, message))
        print(f"note: {path}: {message}")


def _exif_orientation(exif, path):
    """The Orientation (1-8) of an EXIF block; 1 when absent, unreadable or invalid, as viewers do."""
    if not exif:
        return 1
    from PIL import Image
    block = Image.Exif()
    try:
        with _named_warnings(path):
            block.load(exif)
        value = block.get(ORIENTATION_TAG, 1)
    except Exception:  # Pillow raises many types for malformed EXIF; viewers then ignore it too
        return 1
    return int(value) if value in range(1, 9) else 1


def _orient(arr, orientation):
    """Stored pixels -> the picture a viewer shows for an EXIF/TIFF Orientation: 5-8 are 1-4 after
    swapping rows and columns; 2 and 6 reverse the columns, 3 and 7 both, 4 and 8 the rows."""
    if orientation >= 5:
        arr = arr.swapaxes(0, 1)
    rows, columns = ((1, 1), (1, -1), (-1, -1), (-1, 1))[(orientation - 1) % 4]
    return arr[::rows, ::columns]


def _read_tiff(path):
    """-> (samples, TIFF orientation), through tifffile (with imagecodecs for LZW, JPEG and ZIP
    compression: how Lightroom and Photoshop export)."""
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            _check_size(path, page.imagewidth, page.imagelength)
            arr = _tiff_colours(path, page, page.asarray())
            orientation = int(page.tags.valueof(ORIENTATION_TAG, 1))
            # Planar RGB (one plane per sample) -> interleaved, as every other reader returns.
            arr = np.moveaxis(arr, 0, -1) if page.axes.startswith('S') else arr
            if arr.ndim == 3 and arr.shape[2] >= 4 and page.extrasamples[:1] == (1,):   # associated alpha
                arr = _unpremultiply(arr)
            return arr, orientation if orientation in range(1, 9) else 1
    except ImageError:
        raise
    except Exception as e:  # tifffile raises many types for truncated or malformed files
        raise _damaged(path, 'TIFF', f'{type(e).__name__}: {e}') from None


def _tiff_colours(path, page, arr):
    """A TIFF page's samples as grey or RGB: palette indices looked up, white-is-zero grey inverted;
    colour spaces that need a profile to become RGB (CMYK, Lab) are refused, not guessed."""
    from tifffile import COMPRESSION, PHOTOMETRIC
    photometric = page.photometric
    if photometric == PHOTOMETRIC.PALETTE:
        colormap = page.colormap   # (3, 2 ** bits), 16-bit by the standard; some writers store 8-bit
        colormap = colormap.astype(np.uint8) if colormap.max() < 256 else colormap.astype(np.uint16)
        return np.moveaxis(colormap[:, arr], 0, -1)
    if photometric == PHOTOMETRIC.MINISWHITE:
        return (1.0 if arr.dtype.kind == 'f' else np.iinfo(arr.dtype).max) - arr
    if photometric in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.RGB) or (
            photometric == PHOTOMETRIC.YCBCR and page.compression in (COMPRESSION.JPEG, COMPRESSION.OJPEG)):
        return arr   # JPEG-compressed YCbCr is decoded to RGB
    what = 'CMYK (a print separation)' if photometric == PHOTOMETRIC.SEPARATED else photometric.name
    raise ImageError(f"{path}: {what} TIFF; its colours need a profile to become RGB: export or convert "
                     "it as an RGB TIFF, PNG or JPEG")


def _read_raw(path, curve='linear'):
    """curve 'linear' (the agent's linear input) or 'srgb' (the sRGB transfer curve: what a display-
    encoded model, trained on JPEG-like values, must be shown)."""
    try:
        import rawpy
    except ImportError:
        raise ImageError(f"{path}: camera RAW needs rawpy (pip install rawpy)") from None
    try:
        with rawpy.imread(path) as raw:
            _check_size(path, raw.sizes.width, raw.sizes.height)
            # 16-bit, camera white balance, no auto-brightness (the agent corrects exposure); gamma (1, 1) is
            # linear, (2.4, 12.92) the sRGB curve. LibRaw turns the picture upright itself.
            return raw.postprocess(use_camera_wb=True, no_auto_bright=True,
                                   gamma=(1, 1) if curve == 'linear' else (2.4, 12.92),
                                   output_bps=16, output_color=rawpy.ColorSpace.sRGB)
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"{path}: cannot decode camera RAW ({type(e).__name__}: {e}); the file may be "
                         "truncated or corrupt, or not a RAW file: re-copy it, or export it as TIFF") from None


def _open_heif(path, data):
    """A HEIC/HEIF file's bytes opened by pillow-heif (libheif): headers parsed, pixels not yet decoded."""
    try:
        import pillow_heif
    except ImportError:
        raise ImageError(f"{path}: HEIC/HEIF needs pillow-heif (pip install pillow-heif)") from None
    try:
        return pillow_heif.open_heif(data, convert_hdr_to_8bit=False)
    except Exception as e:  # ValueError, EOFError, SyntaxError, RuntimeError by its docs
        raise _damaged(path, 'HEIC/HEIF', f'pillow-heif: {str(e).strip()}') from None


def _read_heif(path):
    """HEIC/HEIF (iPhone photos), 10/12-bit ones as 16-bit. libheif applies the file's own rotation
    and mirroring (its irot/imir boxes, as HEIF viewers do), so the pixels come out upright; the EXIF
    Orientation, which in iPhone photos repeats the same turn, is not applied again."""
    data = _read_bytes(path)
    heif = _open_heif(path, data)
    _check_size(path, *heif.size)
    _warn_if_zero_padded(path, data, 'HEIC/HEIF')
    try:
        arr = np.array(heif)   # a copy: pillow-heif's buffer is read-only
    except Exception as e:  # as _open_heif: the image data may be cut off behind complete headers
        raise _damaged(path, 'HEIC/HEIF', f'pillow-heif: {str(e).strip()}') from None
    bits = heif.info.get('bit_depth', 8)
    if arr.dtype == np.uint16 and 8 < bits < 16:
        # libheif shifts 10/12-bit values to the top bits (1023 -> 65472): repeat the top bits into
        # the low ones, so that full scale is 65535 as FULL_SCALE assumes.
        arr |= arr >> bits
    return _hdr_as_sdr(path, arr, containers.item_properties(data), 'HEIC/HEIF')


def _open_avif(path, data):
    """An AVIF file's bytes opened by Pillow (libavif): headers parsed, pixels not yet decoded."""
    from PIL import Image, UnidentifiedImageError, features
    if not features.check('avif'):
        raise ImageError(f"{path}: AVIF needs a Pillow with AVIF support (pip install -U Pillow: its "
                         "wheels include it from version 11.3)")
    try:
        with _named_warnings(path):
            return Image.open(io.BytesIO(data), formats=['AVIF'])
    except (UnidentifiedImageError, OSError, ValueError) as e:
        detail = 'Pillow cannot read its headers' if isinstance(e, UnidentifiedImageError) else f'Pillow: {e}'
        raise _damaged(path, 'AVIF', detail) from None


def _read_avif(path):
    """AVIF (web images, some phones). -> (stored samples, orientation): 8-bit ones decoded by Pillow,
    10/12-bit ones by imagecodecs (Pillow reduces them to 8 bits) as 16-bit. Both leave the pixels as
    stored; Pillow reports the file's rotation and mirroring (its irot/imir boxes) as the EXIF
    Orientation, which read_samples then applies as for a JPEG."""
    data = _read_bytes(path)
    image = _open_avif(path, data)
    _check_size(path, *image.size)
    _warn_if_zero_padded(path, data, 'AVIF')
    properties = containers.item_properties(data)
    # Bits per channel (pixi) of the deepest image in the file: the colour image's, as an alpha or
    # thumbnail image is never deeper in practice (and the decoded values below check it).
    bits = max((max(body[5:5 + body[4]], default=8) for kind, body in properties
                if kind == b'pixi' and len(body) > 4), default=8)
    decoder = 'imagecodecs' if bits > 8 and _imagecodecs_avif(path, bits) else 'Pillow'
    try:
        if decoder == 'imagecodecs':
            import imagecodecs
            arr = imagecodecs.avif_decode(data)
        else:
            arr = np.array(image)
    except Exception as e:  # the image data may be cut off behind complete headers
        raise _damaged(path, 'AVIF', f'{decoder}: {str(e).strip()}') from None
    if arr.dtype == np.uint16:
        # Values up to 2^depth - 1: the top bits repeated into the low ones, as for HEIF, so that full
        # scale is 65535 (1023 -> 65535).
        depth = max(bits, int(arr.max()).bit_length())
        arr = arr << (16 - depth) | arr >> (2 * depth - 16)
    return _hdr_as_sdr(path, arr, properties, 'AVIF'), _exif_orientation(image.info.get('exif'), path)


def _imagecodecs_avif(path, bits):
    """Whether imagecodecs (a requirement, for TIFF) can decode AVIF here; warns if not, as the image
    is then read through Pillow, at 8 bits."""
    try:
        import imagecodecs
        if imagecodecs.AVIF.available:
            return True
    except ImportError:
        pass
    print(f"warning: {path}: a {bits}-bit AVIF read at 8 bits: the installed imagecodecs cannot decode AVIF "
          "(pip install -U imagecodecs keeps all its bits)", file=sys.stderr)
    return False


# ----------------------------------------------------------------------------------------------
# HDR HEIC/AVIF (PQ or HLG, as some phones and cameras write them), tone mapped to SDR when read

HDR_TRANSFERS = {16: 'PQ', 18: 'HLG'}   # transfer characteristics of ITU-T H.273 (a colr nclx box)
# Colour primaries (H.273 code -> name, red/green/blue xy); all with the D65 white point.
PRIMARIES = {1: ('BT.709', ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))),
             9: ('BT.2020', ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))),
             12: ('Display P3', ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)))}
D65 = (0.3127, 0.3290)
REFERENCE_WHITE = 203.0     # nits: HDR's diffuse white (ITU-R BT.2408), which becomes SDR's white
HLG_PEAK = 1000.0           # nits: HLG's nominal display, system gamma 1.2 (ITU-R BT.2100)
ROLL_OFF_KNEE = 0.8         # of SDR white: values below it stay as they are; brighter ones are compressed


def _hdr_colour(properties):
    """(transfer name, primaries code) of an HDR image's nclx colour description, or None for SDR."""
    for box, body in properties:
        if box == b'colr' and body[:4] == b'nclx' and len(body) >= 8:
            transfer = int.from_bytes(body[6:8], 'big')
            if transfer in HDR_TRANSFERS:
                return HDR_TRANSFERS[transfer], int.from_bytes(body[4:6], 'big')
    return None


def _hdr_as_sdr(path, arr, properties, kind):
    """A decoded HEIC/AVIF: an HDR one tone mapped to 16-bit SDR sRGB (hdr_to_sdr), saying so, as the
    models learned from SDR photos, its alpha channel (if any) kept at 16 bits (it is no light: not
    tone mapped); an SDR one as it is."""
    colour = _hdr_colour(properties)
    if colour is None:
        return arr
    transfer, primaries = colour
    name = PRIMARIES[primaries][0] if primaries in PRIMARIES else 'primaries not given: BT.2020 assumed'
    _note_once(path, f"an HDR {kind} image ({transfer}, {name}), tone mapped to SDR as it is read "
                     f"({REFERENCE_WHITE:.0f}-nit white shown as white, brighter highlights compressed)")
    sdr = np.round(hdr_to_sdr(to_float(_to_rgb(arr, path)), transfer, primaries) * 65535).astype(np.uint16)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):            # grey or RGB + alpha, as _to_rgb_alpha takes them
        alpha = arr[..., -1:].astype(np.uint16) * np.uint16(65535 // FULL_SCALE[arr.dtype])
        return np.concatenate([sdr, alpha], axis=2)
    return sdr


def _rgb_to_xyz(xy):
    """The 3x3 matrix taking linear RGB on primaries xy (red, green, blue; D65 white) to CIE XYZ."""
    p = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in xy]).T
    white = np.array([D65[0] / D65[1], 1.0, (1 - D65[0] - D65[1]) / D65[1]])
    return p * np.linalg.solve(p, white)


def hdr_to_sdr(signal, transfer, primaries):
    """An HDR image's signal (RGB in [0, 1], PQ or HLG encoded) -> SDR sRGB values in [0, 1].

    Display light in nits (PQ: SMPTE ST 2084; HLG: BT.2100 on its nominal 1000-nit display), divided by
    the reference white (203 nits: a white wall or paper, as SDR shows white), taken to BT.709/sRGB
    primaries (colours outside them are clipped), highlights rolled off, then the sRGB curve. The
    roll-off acts on each pixel's largest channel, keeping its hue: identity up to 0.8 of white, then
    an extended Reinhard curve (slope 1 at the knee) that takes the image's brightest value to white."""
    e = np.clip(signal, 0.0, 1.0).astype(np.float32)
    xy = PRIMARIES.get(primaries, PRIMARIES[9])[1]
    if transfer == 'PQ':
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = e ** (1 / m2)
        nits = 10000 * (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1)
    else:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = np.where(e <= 0.5, e * e / 3, (np.exp((np.maximum(e, 0.5) - c) / a) + b) / 12)
        luminance = scene @ _rgb_to_xyz(xy)[1].astype(np.float32)
        nits = HLG_PEAK * luminance[..., None] ** 0.2 * scene       # the OOTF: system gamma 1.2
    to_bt709 = np.linalg.solve(_rgb_to_xyz(PRIMARIES[1][1]), _rgb_to_xyz(xy))
    light = np.maximum((nits / np.float32(REFERENCE_WHITE)) @ to_bt709.T.astype(np.float32), 0.0)
    peak, k = max(float(light.max()), 1.0), ROLL_OFF_KNEE
    m = light.max(axis=-1, keepdims=True)
    if peak > 1.0:
        u, top = np.maximum(m - k, 0) / (1 - k), (peak - k) / (1 - k)
        rolled = k + (1 - k) * u * (1 + u / top ** 2) / (1 + u)
        light *= np.where(m > k, rolled / np.maximum(m, k), 1.0).astype(np.float32)
    return linear_to_srgb(light)


def _check_file(path):
    """The checks every reader shares: the file exists, is a file, is not empty, has a known type."""
    try:
        info = os.stat(path)
    except OSError as e:   # not only a missing file: a folder without permission, a name too long
        raise ImageError(f"{path}: {reading_problem(path, e)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a folder, not an image")
    if info.st_size == 0:
        raise ImageError(f"{path}: empty file")
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ImageError(f"{path}: unsupported file type {ext or '(none)'}; convert it to JPEG, PNG or TIFF "
                         f"first (supported: {' '.join(IMAGE_EXTENSIONS)})")
    if ext in RAW_EXTENSIONS:
        return 'raw'
    return containers.file_kind(_read_bytes(path, containers.HEAD_BYTES))


def read_samples(path, raw_curve='linear'):
    """Reads an image's stored samples as RGB (H, W, 3): uint8 or uint16 as stored, float as float32,
    turned upright as a viewer shows it (EXIF or TIFF Orientation). read_photo's, without the alpha."""
    return read_photo(path, raw_curve)[0]


def read_photo(path, raw_curve='linear'):
    """Reads an image's stored samples: (RGB (H, W, 3), alpha (H, W) or None), uint8 or uint16 as
    stored, float as float32, turned upright as a viewer shows it (EXIF or TIFF Orientation). alpha
    is None without an alpha channel or when every pixel is opaque; the colour of transparent pixels is
    what the file stores there (often black or left-over colours: read_photo's callers weigh it out).

    The content, not the extension, picks the reader: TIFF through tifffile, PNG/JPEG/WebP through
    OpenCV (unchanged, so 16-bit PNG keeps its bits; CMYK JPEG through Pillow), HEIC/HEIF through
    pillow-heif and AVIF through Pillow and imagecodecs (10/12-bit ones of both as 16-bit; HDR ones tone
    mapped to SDR), camera RAW (by extension) through rawpy, decoded to 16 bits with raw_curve: 'linear'
    or 'srgb'. Raises ImageError naming the file for anything unusable: missing, empty, truncated,
    corrupt, too large, not an image.
    """
    path = os.fspath(path)
    kind = _check_file(path)
    if kind == 'raw':
        return _to_rgb_alpha(_read_raw(path, raw_curve), path)
    if kind == 'heif':
        return _to_rgb_alpha(_read_heif(path), path)
    if kind is None and is_companion_file(path):
        raise ImageError(f"{path}: a macOS metadata file (the companion of {os.path.basename(path)[2:]} that "
                         "macOS writes on other disks), not a photo; leave it out")
    if kind is None:
        raise ImageError(f"{path}: cannot decode: the content is not JPEG, PNG or TIFF (nor WebP, HEIC or AVIF); "
                         "the file may be corrupt or in another format: re-export it as JPEG, PNG or TIFF")
    readers = {'tiff': _read_tiff, 'avif': _read_avif}
    arr, orientation = readers[kind](path) if kind in readers else _read_with_opencv(path, kind)
    return _to_rgb_alpha(_orient(arr, orientation), path)


def read_metadata(path):
    """An image's colour profile and EXIF, to carry over to its results (write_image's metadata).

    -> {'icc_profile': bytes or None, 'exif': bytes or None}. 'exif' is an EXIF block as JPEG's
    APP1 segment holds it (b'Exif\\0\\0' and a TIFF structure; PIL.Image.Exif().load reads it).
    JPEG: APP1/APP2 segments; PNG: eXIf/iCCP chunks; WebP: EXIF/ICCP chunks; HEIC: its EXIF and
    ICC profile through pillow-heif (the EXIF's Orientation as stored: read_samples does not apply it
    again, and write_image sets 1 as for every result); AVIF: its EXIF and ICC profile through
    Pillow; TIFF: the InterColorProfile tag, and through Pillow the descriptive tags (Make, Model,
    ...) with the EXIF and GPS sub-IFDs; camera RAW: none (rawpy exposes neither). Raises ImageError
    as read_samples does for an unusable file.
    """
    path = os.fspath(path)
    kind = _check_file(path)
    icc = exif = None
    if kind in ('png', 'jpeg', 'webp'):
        layout = _layout(_read_bytes(path), path, kind)
        icc, exif = layout['icc'], layout['exif']
    elif kind in ('heif', 'avif'):
        data = _read_bytes(path)
        info = (_open_heif if kind == 'heif' else _open_avif)(path, data).info
        # An HDR image's pixels are read as sRGB (_hdr_as_sdr): its own profile no longer describes them.
        icc = None if _hdr_colour(containers.item_properties(data)) else info.get('icc_profile') or None
        exif = containers.exif_block(info.get('exif'))
    elif kind == 'tiff':
        icc, exif = _tiff_icc(path), _tiff_exif(path)
    return {'icc_profile': _rgb_profile(path, icc), 'exif': exif}


def _rgb_profile(path, icc):
    """The input's colour profile if it describes RGB values, as the results hold. A CMYK one (its
    pixels were converted to sRGB when read), a grey or a Lab one would make viewers misread the
    results or ignore the profile: it is left out, with a note, and the results are plain sRGB."""
    space = icc[16:20] if icc and len(icc) >= 128 else b'RGB '     # the header's data colour space
    if space == b'RGB ':
        return icc
    _note_once(path, f"its {space.decode('latin-1').strip() or 'unknown'} colour profile does not describe "
                     "RGB results and is left out of them (they are plain sRGB)")
    return None


def _tiff_icc(path):
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].tags.valueof(34675)    # InterColorProfile
    except Exception as e:  # as _read_tiff
        raise _damaged(path, 'TIFF', f'{type(e).__name__}: {e}') from None


# TIFF tags that describe the photo, not its pixels layout: carried into EXIF blocks and TIFF outputs.
DESCRIPTIVE_TAGS = {0x010F: 'Make', 0x0110: 'Model', 0x0132: 'DateTime', 0x013B: 'Artist',
                    0x8298: 'Copyright'}
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def _tiff_exif(path):
    """A TIFF's descriptive tags and EXIF/GPS sub-IFDs as an EXIF block, or None (none, or a TIFF
    Pillow cannot open, e.g. floating-point)."""
    from PIL import Image, TiffImagePlugin
    try:
        # The plugin class, not Image.open: that refuses images over 179 MP, below MAX_PIXELS.
        with _named_warnings(path), TiffImagePlugin.TiffImageFile(path) as tif:
            source, block = tif.getexif(), Image.Exif()
            for tag in DESCRIPTIVE_TAGS:
                if tag in source:
                    block[tag] = source[tag]
            for tag in (EXIF_IFD, GPS_IFD):
                sub = source.get_ifd(tag)
                if sub:
                    block[tag] = sub
            return block.tobytes() if len(block) else None
    except Exception:  # metadata is optional: a TIFF Pillow cannot parse simply has none to carry
        return None


def read_image(path, raw_curve='linear'):
    """Reads an image's stored values as float32 RGB (H, W, 3) in [0, 1], keeping 16-bit depth."""
    return to_float(read_samples(path, raw_curve))


def raw_curve(encoding):
    """How camera RAW is developed for a declared encoding: with the sRGB curve for the display-
    referred ones (a model trained on JPEG-like values must see a RAW file as its camera's JPEG
    would show it), linear for the others."""
    return 'srgb' if encoding in ('display', 'srgb') else 'linear'


def load_linear(path, encoding=None):
    """read_image + linearize with the file's default encoding unless one is given."""
    return linearize(read_image(path), encoding or default_encoding(path))


def is_companion_file(path):
    """A macOS metadata file ('._' and the photo's name: its resource fork and Finder data, which macOS
    writes beside every file it copies to a disk formatted for Windows or a network share)."""
    return os.path.basename(path).startswith('._')


def _is_photo_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not is_companion_file(name)


def _glob(pattern):
    """glob.glob, sorted, where the folders that exist as written are taken literally: 'shoot[1]/*.jpg'
    finds the files of the folder shoot[1] (as a pattern, [1] would mean the folder shoot1)."""
    head = os.path.dirname(pattern)
    while head and not os.path.isdir(head):
        head = os.path.dirname(head)
    literal = glob.escape(head) + pattern[len(head):] if head else pattern
    return sorted(glob.glob(literal)) or sorted(glob.glob(pattern))


def list_images(items, passed_over=None):
    """Expands files, folders (supported images inside, sorted) and glob patterns, in order.

    Names that match nothing are kept, so the caller reports them as missing files. Files met in
    folders or globs that are not photos (sidecars such as .xmp, .thm, .aae; macOS '._' files) are left
    out, and appended to the list passed_over if one is given (passed_over_note says them once).
    """
    out = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            # The folder's own listing says which entries are folders: in a folder that may be listed
            # but not searched, asking each entry (os.path.isdir) fails and calls every folder a file.
            with os.scandir(item) as entries:
                found = [os.path.join(item, name) for name, folder in sorted((e.name, _is_folder(e)) for e in entries)
                         if not folder or _is_photo_name(name)]      # other folders: not met
        elif any(c in item for c in '*?[') and not os.path.exists(item):
            found = _glob(item)
            if not found:
                out.append(item)
                continue
            found = [f for f in found if _is_photo_name(f) or not os.path.isdir(f)]   # other folders: not met
        else:
            out.append(item)
            continue
        out += [f for f in found if _is_photo_name(f)]
        if passed_over is not None:
            passed_over += [f for f in found if not _is_photo_name(f)]
    return out


def _is_folder(entry):
    """A folder's entry is a folder (a link to one too, where the link can be followed)."""
    try:
        return entry.is_dir()
    except OSError:     # a link in a folder that may not be searched: cannot be followed
        return False


def passed_over_note(paths):
    """One line for the files list_images passed over (some)."""
    kinds = sorted({'macOS ._ files' if is_companion_file(p) else os.path.splitext(p)[1].lower() or 'no extension'
                    for p in paths})
    return (f"note: passed over {len(paths)} file{'s' if len(paths) > 1 else ''} in the folders and patterns "
            f"given that are not photos ({', '.join(kinds[:6])}{', ...' if len(kinds) > 6 else ''})")


def image_statistics(img):
    """(mean luminance, contrast = 2 x std of luminance, mean HLS saturation) of an image clipped to
    [0, 1]: the statistics of the paper's histogram metric (spec 8.6), also recorded in recipes."""
    x = np.ascontiguousarray(np.clip(img, 0.0, 1.0), np.float32)
    luminance = x @ np.array(LUM_WEIGHTS, np.float32)
    saturation = cv2.cvtColor(x, cv2.COLOR_RGB2HLS)[..., 2]   # float HLS: S in [0, 1]
    return float(luminance.mean()), float(2.0 * luminance.std()), float(saturation.mean())


# ----------------------------------------------------------------------------------------------
# Image output (written atomically: atomic.py)

OUTPUT_FORMATS = {'png': '.png', 'png16': '.png', 'tiff16': '.tif', 'jpeg': '.jpg'}
# JPEG results: quality 95 without chroma subsampling (the edits are colour edits: 4:2:0 would halve
# the colour resolution they were applied at).
JPEG_OPTIONS = [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
JPEG_MAX_SIDE = 65500      # OpenCV's JPEG encoder's limit (the format's own is 65,535 pixels a side)


class OutputError(OSError):
    """An output that cannot be written. The message names the path and what to do about it."""


# What to do when writing fails, by the operating system's error number. (os.makedirs reports a
# file in the way of the folder as ENOTDIR, or as EEXIST when it is the folder itself.)
_FILE_IN_THE_WAY = 'part of the folder path is a file, not a folder: choose another --output-dir'
OUTPUT_FIXES = {
    errno.ENOSPC: 'no space left on device: free some space or choose another --output-dir',
    errno.EDQUOT: 'disk quota exceeded: free some space or choose another --output-dir',
    errno.EACCES: 'permission denied: choose another --output-dir or make the folder writable',
    errno.EPERM: 'operation not permitted: choose another --output-dir or make the folder writable',
    errno.EROFS: 'read-only file system: choose another --output-dir',
    errno.ENOTDIR: _FILE_IN_THE_WAY,
    errno.EEXIST: _FILE_IN_THE_WAY,
    errno.EISDIR: 'a folder has that name: move it away or choose another --output-dir',
    errno.ENAMETOOLONG: 'the name is too long: choose a shorter --output-dir',
}


def _output_error(path, e):
    fix = OUTPUT_FIXES.get(e.errno, e.strerror or str(e))
    return OutputError(f"{path}: cannot write the image: {fix}")


def quantize(img, bits):
    """float image -> uint8/uint16, clipped to [0, 1] and rounded (OpenCV's saturate cast)."""
    scale = 255.0 if bits == 8 else 65535.0
    return np.rint(np.clip(img, 0.0, 1.0) * np.float32(scale)).astype(np.uint8 if bits == 8 else np.uint16)


def write_image(path, img, fmt=None, metadata=None, alpha=None):
    """Writes float RGB in [0, 1] (or uint8/uint16 RGB) atomically, with the usual permissions of a
    new file. fmt: png, png16, tiff16 or jpeg; by default from the extension (.tif/.tiff -> tiff16,
    .jpg/.jpeg -> jpeg, else png).

    alpha: the input's alpha channel (read_photo's), kept as the result's in PNG and TIFF (unassociated,
    at the result's depth); JPEG has none, so there the image is composited on white (JPEG_ON_WHITE).

    metadata: read_metadata's dict for the input. Its ICC profile and EXIF go into the file (PNG:
    iCCP and eXIf chunks; JPEG: APP1 and APP2 segments; TIFF: InterColorProfile and the descriptive
    tags Make, Model, DateTime, Artist, Copyright), with Orientation 1, since read_samples already
    turned the pixels upright.
    Raises OutputError naming the path and the fix (full disk, no permission, a file where a folder
    should be); nothing is left behind then.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    fmt = fmt or ('tiff16' if ext in TIFF_EXTENSIONS else 'jpeg' if ext in ('.jpg', '.jpeg') else 'png')
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    problem = format_problem(img.shape, fmt)
    if problem:
        raise OutputError(f"{path}: cannot write the image: {problem}")
    bits = 8 if fmt in ('png', 'jpeg') else 16
    arr = img if img.dtype in (np.uint8, np.uint16) else quantize(img, bits)
    if alpha is not None and fmt == 'jpeg':
        arr, alpha = _on_white(arr, alpha), None
    exif = _upright_exif((metadata or {}).get('exif'), arr.shape)
    icc = (metadata or {}).get('icc_profile')
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        with atomic.atomic_write(path) as f:
            write = {'tiff16': _write_tiff, 'jpeg': _write_jpeg}.get(fmt, _write_png)
            write(f, _channels(arr, alpha, bgr=fmt != 'tiff16'), icc, exif)
    except OSError as e:
        raise _output_error(path, e) from None
    return path


JPEG_ON_WHITE = ("JPEG has no transparency: the transparent areas are composited on white (--format png, "
                 "png16 or tiff16 keep them transparent)")


def format_problem(shape, fmt):
    """Why an image of this shape (H, W, ...) cannot be written in fmt, with what to use; else None."""
    if fmt == 'jpeg' and max(shape[:2]) > JPEG_MAX_SIDE:
        return (f"JPEG holds at most {JPEG_MAX_SIDE:,} pixels a side and this image is {shape[1]:,}x{shape[0]:,}; "
                "use --format png16 or tiff16 (or png) for it")
    return None


def _channels(arr, alpha, bgr):
    """The samples as an encoder takes them: RGB, or BGR for OpenCV, with the alpha channel after them
    at the samples' depth, if there is one. Grey samples (H, W) go to the encoder as they are."""
    if arr.ndim == 2:
        if alpha is None:
            return arr
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if alpha is None and not bgr:
        return arr
    out = np.empty(arr.shape[:2] + (3 if alpha is None else 4,), arr.dtype)
    out[..., :3] = arr[..., ::-1] if bgr else arr
    if alpha is not None:
        if alpha.dtype.kind == 'f':
            alpha = quantize(alpha, 8 if arr.dtype == np.uint8 else 16)
        elif alpha.dtype != arr.dtype:      # 8 <-> 16 bits: full scale to full scale
            alpha = alpha.astype(np.uint16) * 257 if arr.dtype == np.uint16 else np.rint(alpha / np.float32(257))
        out[..., 3] = alpha
    return out


def _on_white(arr, alpha):
    """Stored samples composited on white by the alpha channel, as a viewer shows them on a white page
    (row bands of about a megapixel: no float copy of a whole big image)."""
    full = np.float32(FULL_SCALE[arr.dtype])
    out = np.empty_like(arr)
    rows = max(1, (1 << 20) // arr.shape[1])
    for top in range(0, arr.shape[0], rows):
        a = to_float(alpha[top:top + rows])[..., None]
        out[top:top + rows] = np.rint(arr[top:top + rows] * a + full * (1 - a))
    return out


def _write_png(f, arr, icc, exif):
    """OpenCV's PNG (it writes 16-bit RGB, which Pillow cannot) from BGR(A), with the profile and EXIF
    chunks."""
    ok, png = cv2.imencode('.png', arr)
    if not ok:
        raise OSError("OpenCV could not encode the image as PNG")
    f.writelines(containers.png_with_metadata(png.reshape(-1).data, icc, exif))   # no copy of the PNG


def _write_jpeg(f, arr, icc, exif):
    """OpenCV's JPEG (JPEG_OPTIONS) from BGR, with the EXIF and profile segments."""
    ok, jpeg = cv2.imencode('.jpg', arr, JPEG_OPTIONS)
    if not ok:
        raise OSError("OpenCV could not encode the image as JPEG")
    f.writelines(containers.jpeg_with_metadata(jpeg.reshape(-1).data, icc, exif))


def _write_tiff(f, arr, icc, exif):
    """16-bit TIFF through tifffile from RGB(A) (the A unassociated alpha). Of the EXIF, the
    descriptive tags and Orientation 1 are written in the image's own tags; tifffile cannot write the
    EXIF sub-IFD (exposure, lens, GPS)."""
    import tifffile
    tags = []
    if exif:
        from PIL import Image
        block = Image.Exif()
        block.load(exif)
        tags = [(ORIENTATION_TAG, 'H', 1, 1, True)] + [
            (tag, 's', 0, str(block[tag]).encode('ascii', 'replace'), True)
            for tag in DESCRIPTIVE_TAGS if tag in block]
    tifffile.imwrite(f, arr, photometric='rgb', iccprofile=icc, extratags=tags,
                     extrasamples=(2,) if arr.shape[2] == 4 else None)


def _upright_exif(exif, shape):
    """The input's EXIF block for its result: Orientation 1 and the result's size. Pillow writes it
    without the thumbnail, which would still be sideways. None without EXIF or if it is unreadable:
    metadata never stops a result from being written."""
    if not exif:
        return None
    from PIL import Image
    block = Image.Exif()
    try:
        with _named_warnings(None, quiet=True):    # said with the input's name when it was read
            block.load(exif)
            block[ORIENTATION_TAG] = 1
            sub = block.get_ifd(EXIF_IFD)
            if 0xA002 in sub or 0xA003 in sub:    # PixelXDimension, PixelYDimension
                sub[0xA002], sub[0xA003] = shape[1], shape[0]
            return block.tobytes()
    except Exception:  # Pillow raises many types for malformed EXIF
        return None


# ----------------------------------------------------------------------------------------------
# Crops (spec 7.2, 7.3, 8.2)

def center_square(img):
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return img[y:y + s, x:x + s]


def random_square_crops(img, count, size, rng):
    """`count` random square crops of side min(H, W), each resized to size x size with INTER_AREA."""
    h, w = img.shape[:2]
    s = min(h, w)
    crops = []
    for _ in range(count):
        y = rng.integers(0, h - s + 1)
        x = rng.integers(0, w - s + 1)
        crops.append(cv2.resize(img[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops).astype(np.float32)
