"""3D colour lookup tables in the .cube format (Adobe's Cube LUT Specification 1.0), which ffmpeg's
lut3d filter, DaVinci Resolve, darktable's lut3d module and colour-science read.

A table holds the output RGB for every point of a size^3 grid over [0, 1]^3, in the format's order:
red changes fastest, then green, then blue (grid() gives the points in that order). Tools
interpolate between the points (trilinearly or tetrahedrally). Only the plain 3D form is written:
Resolve's dialect allows a 1D shaper before the table, but darktable refuses such a file and
ffmpeg's lut3d silently skips the shaper.
"""
import numpy as np


def grid(size):
    """The size^3 grid points (N, 3) float32 in [0, 1], red fastest, then green, then blue."""
    values = np.linspace(0.0, 1.0, size, dtype=np.float32)
    blue, green, red = np.meshgrid(values, values, values, indexing='ij')
    return np.stack([red, green, blue], axis=-1).reshape(-1, 3)


def write_cube(path, table, title, comments=()):
    """Writes table (size^3, 3), the outputs in [0, 1] at grid(size)'s points, as a .cube file.

    comments: lines written as '# ...' before the keywords (every reader named above skips them).
    """
    table = np.asarray(table, np.float64)
    size = round(len(table) ** (1 / 3))
    if size ** 3 != len(table) or table.shape[1:] != (3,) or not (0 <= table.min() and table.max() <= 1):
        raise ValueError(f"a 3D LUT table has size^3 rows of 3 values in [0, 1], not shape {table.shape}")
    header = [f'# {one_line(line)}' for line in comments] + [
        'TITLE "{}"'.format(one_line(title).replace('"', "'")), f'LUT_3D_SIZE {size}',
        'DOMAIN_MIN 0.0 0.0 0.0', 'DOMAIN_MAX 1.0 1.0 1.0']
    with open(path, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode())
        f.write(rows(table))


def one_line(text):
    """text as one printable line of UTF-8. A file name may hold a line break, which would end a
    comment or the title early and leave a line no reader understands, or bytes that are not UTF-8
    (which Python keeps as surrogates, which cannot be encoded): both are written as \\x escapes."""
    text = text.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')
    return ''.join(c if c.isprintable() else f'\\x{ord(c):02x}' for c in text)


def rows(table):
    """Values in [0, 1] (N, 3) -> b'r g b\\n' lines with 6 decimals, composed digit by digit in NumPy:
    formatting value by value (np.savetxt) takes a second for a 65^3 table."""
    micro = np.rint(table * 1e6).astype(np.int32)
    digits = micro[..., None] // 10 ** np.arange(6, -1, -1) % 10          # (N, 3, 7): 1 + 6 decimals
    chars = np.empty(micro.shape + (9,), np.uint8)                         # 'd.dddddd' and a separator
    chars[..., 0], chars[..., 1], chars[..., 2:8] = digits[..., 0] + 48, ord('.'), digits[..., 1:] + 48
    chars[..., 8] = ord(' ')
    chars[:, -1, 8] = ord('\n')
    return chars.tobytes()
