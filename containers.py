"""The bytes of image files: the containers of JPEG, PNG, WebP and HEIF/AVIF, walked to tell a file's
kind from its first bytes, to check that it is whole (decoders fill a copy cut short with grey and say
nothing) and to find its size, EXIF block and colour profile; and the segments and chunks that carry
EXIF and profiles into the files image_io writes.

Functions of bytes only: what is wrong with a file is raised as a LayoutError whose message says what
to do, and image_io puts the file's name in front of it.
"""
import struct
import zlib


class LayoutError(ValueError):
    """A file whose container cannot be used; the message says what is wrong and the fix."""


def damaged(kind, detail):
    return LayoutError(f"truncated or corrupt {kind} file ({detail}); re-export or re-copy it")


# What a file's first bytes say it is, whatever its name: a PNG named .jpg is still read.
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'
TIFF_SIGNATURES = (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')   # classic and BigTIFF
# A HEIF file starts with a 'ftyp' box naming its brand: HEVC stills or sequences, or generic HEIF.
HEIF_BRANDS = (b'heic', b'heix', b'heim', b'heis', b'hevc', b'hevx', b'hevm', b'hevs', b'mif1', b'msf1')
AVIF_BRANDS = (b'avif', b'avis')   # the same container with AV1 inside: decoded by Pillow's plugin
HEAD_BYTES = 64                    # enough of a file's start for file_kind
EXIF_PREFIX = b'Exif\x00\x00'      # how JPEG's APP1 segment (and read_metadata) starts an EXIF block
MAX_ICC_BYTES = 1 << 24            # real colour profiles are kilobytes to a few megabytes
PNG_DECODER_CHUNK = 1 << 20        # bytes: ancillary PNG chunks above this are not passed to OpenCV
# JPEG markers: frame headers (they hold the size), and those without a length field.
JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}
JPEG_SEGMENT_BODY = 65533          # a JPEG segment's length field counts itself: at most 65535
ICC_CHUNK = JPEG_SEGMENT_BODY - 14   # after 'ICC_PROFILE\0', the chunk number and the count


def file_kind(head):
    """'png', 'jpeg', 'tiff', 'webp', 'heif', 'avif' or None, from a file's first HEAD_BYTES bytes."""
    if head.startswith(PNG_SIGNATURE):
        return 'png'
    if head.startswith(b'\xff\xd8\xff'):
        return 'jpeg'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    if head[4:8] == b'ftyp':     # ISO media: major brand, minor version, compatible brands
        major, end = head[8:12], min(int.from_bytes(head[:4], 'big'), len(head))
        compatible = {head[i:i + 4] for i in range(16, end - 3, 4)}
        if major in AVIF_BRANDS or (major in (b'mif1', b'msf1') and compatible & set(AVIF_BRANDS)):
            return 'avif'
        if major in HEIF_BRANDS:
            return 'heif'
    return 'tiff' if head[:4] in TIFF_SIGNATURES else None


def layout(data, kind):
    """The checked headers and metadata of a whole PNG, JPEG or WebP file:
    {'size': (width, height), 'exif': an EXIF block (EXIF_PREFIX and a TIFF structure) or None,
    'icc': the colour profile or None}."""
    return {'png': png_layout, 'jpeg': jpeg_layout, 'webp': webp_layout}[kind](data)


def jpeg_layout(data):
    """Reads a JPEG's headers (and its number of colour components: 1 grey, 3 colour, 4 CMYK) and
    checks that an end-of-image marker follows its first scan: libjpeg decodes a cut-off file with grey
    for the missing part and only prints a warning. (A search from the start could find the end of
    the EXIF thumbnail, itself a complete JPEG.)"""
    size, exif, icc, end, components = None, None, {}, 0, 3
    for marker, body, end in _jpeg_segments(data):
        if marker in JPEG_FRAME_MARKERS and len(body) >= 6:
            height, width, components = struct.unpack_from('>HHB', body, 1)
            size = (width, height)
        elif marker == 0xE1 and body.startswith(EXIF_PREFIX) and exif is None:
            exif = body
        elif marker == 0xE2 and body.startswith(b'ICC_PROFILE\x00') and len(body) > 14:
            icc[body[12]] = body[14:]       # a profile may be split over numbered segments
    if size is None:
        raise damaged('JPEG', 'no frame header before the image data')
    if data.find(b'\xff\xd9', end) < 0:
        raise damaged('JPEG', 'the image data stops before its end marker')
    return {'size': size, 'exif': exif, 'icc': b''.join(icc[k] for k in sorted(icc)) or None,
            'components': components}


def _jpeg_segments(data):
    """(marker, body, offset after it) of each segment from the start to the first scan's header."""
    pos = 2
    while True:
        if pos + 4 > len(data):
            raise damaged('JPEG', 'it ends inside its header')
        if data[pos] != 0xFF:
            raise damaged('JPEG', f'no segment marker at byte {pos}')
        marker = data[pos + 1]
        if marker == 0xFF or marker in JPEG_STANDALONE_MARKERS:   # fill byte, or no length field
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9:
            raise damaged('JPEG', 'it ends before any image data')
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], 'big')
        if end > len(data):
            raise damaged('JPEG', 'it ends inside its header')
        yield marker, data[pos + 4:end], end
        if marker == 0xDA:      # start of scan: the image data follows
            return
        pos = end


def png_layout(data):
    """Walks a PNG's chunks to its end chunk (IEND), which a copy cut short lacks; the EXIF comes from
    its eXIf chunk, the profile from iCCP."""
    size = exif = icc = None
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise damaged('PNG', 'it ends before its end chunk (IEND)')
        length, kind = struct.unpack_from('>I4s', data, pos)
        start, pos = pos + 8, pos + 12 + length
        if kind == b'IHDR' and length >= 8:
            size = struct.unpack_from('>II', data, start)
        elif kind == b'eXIf':
            exif = EXIF_PREFIX + data[start:start + length]
        elif kind == b'iCCP':
            icc = _inflate_icc(data[start:start + length])
        elif kind == b'acTL':   # the animation control chunk: OpenCV would decode the first frame only
            raise LayoutError("an animated PNG (APNG), not a photo; save the frame you want as PNG or JPEG")
        elif kind == b'IEND':
            break
    if data[pos - 12:pos] != PNG_END:    # the end chunk is always these bytes (its CRC included)
        raise damaged('PNG', 'its end chunk (IEND) is cut off or damaged')
    if size is None:
        raise damaged('PNG', 'no header chunk (IHDR)')
    return {'size': size, 'exif': exif, 'icc': icc}


def png_pixels(data):
    """A whole PNG's bytes without the ancillary chunks larger than PNG_DECODER_CHUNK (XMP, text,
    EXIF), which OpenCV's decoder refuses as if the file were damaged; the same bytes if it has none.
    Its metadata is read from the original bytes (png_layout)."""
    kept, pos, large = [data[:len(PNG_SIGNATURE)]], len(PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from('>I4s', data, pos)
        end = pos + 12 + length
        ancillary = kind[0] & 0x20       # a lower-case first letter: not needed to decode the image
        if ancillary and length > PNG_DECODER_CHUNK:
            large = True
        else:
            kept.append(data[pos:end])
        pos = end
    return b''.join(kept) if large else data


def _inflate_icc(body):
    """An iCCP chunk (name, 0, method 0, zlib data) -> the profile, or None if it does not inflate
    to at most MAX_ICC_BYTES (a few kilobytes could otherwise inflate to gigabytes)."""
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(body.partition(b'\x00')[2][1:], MAX_ICC_BYTES)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else profile


def webp_layout(data):
    """Checks that a WebP file (a RIFF container: 'RIFF', its length from byte 8, 'WEBP', then
    chunks) is as long as its header says, which a copy cut short is not, and walks its chunks: the
    size of the first image header, the EXIF and ICCP chunks."""
    end = 8 + int.from_bytes(data[4:8], 'little')
    if len(data) < end:
        raise damaged('WebP', f'it has {len(data)} of the {end} bytes its header gives')
    size = exif = icc = None
    pos = 12
    while pos + 8 <= end:
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], 'little')
        start, pos = pos + 8, pos + 8 + length + (length & 1)    # chunks are padded to an even length
        if start + length > end:
            raise damaged('WebP', f'its {kind.decode("latin-1")!r} chunk runs past the end')
        if kind == b'ANIM':     # OpenCV would decode the first frame and say nothing
            raise LayoutError("an animated WebP, not a photo; save the frame you want as PNG or JPEG")
        body = data[start:start + length]
        size = size or _webp_size(kind, body)
        if kind == b'ICCP' and icc is None:
            icc = body
        elif kind == b'EXIF' and exif is None:
            exif = exif_block(body)
    if size is None:
        raise damaged('WebP', 'no image header (VP8X, VP8 or VP8L chunk)')
    return {'size': size, 'exif': exif, 'icc': icc}


def _webp_size(kind, body):
    """(width, height) from a WebP chunk that gives them, else None: the extended header VP8X (24-bit
    canvas width and height minus one, after 4 bytes of flags), a lossy VP8 key frame (14 bits each,
    after the 3-byte frame tag and start code 9d 01 2a) or a lossless VP8L header (after the 0x2f
    signature, 14 bits each of width and height minus one)."""
    if kind == b'VP8X' and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], 'little'), 1 + int.from_bytes(body[7:10], 'little')
    if kind == b'VP8 ' and len(body) >= 10 and body[3:6] == b'\x9d\x01\x2a':
        width, height = struct.unpack_from('<HH', body, 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b'VP8L' and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], 'little')
        return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF)
    return None


def exif_block(body):
    """A TIFF structure with or without the Exif\\0\\0 prefix (WebP and HEIF writers differ) -> an
    EXIF block in this module's form (with it), or None if empty."""
    if not body:
        return None
    return body if body.startswith(EXIF_PREFIX) else EXIF_PREFIX + body


def item_properties(data):
    """[(type, body)] of the item properties of a HEIF or AVIF file (ISO base media boxes: meta, a
    full box, > iprp > ipco), e.g. pixi (bits per channel) and colr (colour description); [] if none."""
    def boxes(start, end):
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack_from('>I4s', data, pos)
            header = 8
            if size == 1 and pos + 16 <= end:            # a 64-bit size follows the type
                size, header = struct.unpack_from('>Q', data, pos + 8)[0], 16
            elif size == 0:                              # to the end of the enclosing box
                size = end - pos
            if size < header or pos + size > end:
                return
            yield kind, pos + header, pos + size
            pos += size
    span = (0, len(data))
    # meta is a full box: its children follow 4 bytes of version and flags.
    for wanted, skip in ((b'meta', 0), (b'iprp', 4), (b'ipco', 0)):
        span = next(((s, e) for kind, s, e in boxes(span[0] + skip, span[1]) if kind == wanted), None)
        if span is None:
            return []
    return [(kind, data[s:e]) for kind, s, e in boxes(*span)]


def png_with_metadata(png, icc, exif):
    """An encoded PNG (any bytes-like object) with the profile (iCCP) and EXIF (eXIf) chunks inserted
    after its 33-byte signature and header chunk, as they must come before the image data: -> the
    pieces to write one after the other (slices of `png`: a memoryview's are not copies)."""
    chunks = b''
    if icc:
        chunks += png_chunk(b'iCCP', b'ICC Profile\x00\x00' + zlib.compress(icc))
    if exif:
        chunks += png_chunk(b'eXIf', exif[len(EXIF_PREFIX):])
    return png[:33], chunks, png[33:]


def jpeg_with_metadata(jpeg, icc, exif):
    """An encoded JPEG (any bytes-like object) with the EXIF (APP1) and the profile (APP2, in numbered
    chunks as the ICC specifies) inserted after its JFIF header, as Photoshop orders them: -> the pieces
    to write one after the other, as png_with_metadata. An EXIF block too long for one segment, or a
    profile over 255 chunks (16 MB), is left out: metadata never stops a result."""
    head = 4 + int.from_bytes(jpeg[4:6], 'big') if jpeg[2:4] == b'\xff\xe0' else 2   # SOI [+ APP0]
    segments = b''
    if exif and len(exif) <= JPEG_SEGMENT_BODY:
        segments += _jpeg_segment(0xE1, exif)
    chunks = [icc[i:i + ICC_CHUNK] for i in range(0, len(icc or b''), ICC_CHUNK)]
    if len(chunks) <= 255:       # the count is one byte
        for number, chunk in enumerate(chunks, 1):
            segments += _jpeg_segment(0xE2, b'ICC_PROFILE\x00' + bytes([number, len(chunks)]) + chunk)
    return jpeg[:head], segments, jpeg[head:]


def _jpeg_segment(marker, body):
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, 'big') + body


def png_chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
