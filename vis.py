"""Drawings of what the agent does: the decision panel of one step, the per-image step figure of
evaluation (spec 8.3) and the training visualization (spec 9.1). Pure numpy/OpenCV; images are
float RGB in [0, 1] (values outside are clipped for display)."""
import cv2
import numpy as np

CELL = 68          # a 64-px tile plus 4 px padding (spec 8.3)
GREY = 128


def _u8(img):
    return np.ascontiguousarray(np.clip(np.asarray(img, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8))


def _f32(img):
    return img.astype(np.float32) / 255


def tile(img, size=64):
    """Any image -> size x size for a figure cell (nearest neighbour, as the original)."""
    return cv2.resize(np.clip(img, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)


def decision_panel(pdf, selected, short_names, size=64):
    """The policy as bars (spec 8.3): one labelled bar per filter, the chosen one in red."""
    panel = np.full((size, size, 3), GREY, np.uint8)
    shown = [j for j in range(len(pdf)) if pdf[j] > 1e-10]
    for c, j in enumerate(shown):
        x, y = 30 * (c // 4), 8 * (c % 4 + 1)
        cv2.putText(panel, short_names[j], (x + 1, y + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.233,
                    (255, 255, 255), 1, cv2.LINE_AA)
        top, bottom = y - 1, y - 1 + int(0.35 * 8)
        right = x + 16 + max(int(pdf[j] * 20), 1)
        fill = (255, 77, 77) if j == selected else (77, 77, 77)
        cv2.rectangle(panel, (x + 16, top), (right, bottom), fill, cv2.FILLED)
        cv2.rectangle(panel, (x + 16, top), (right, bottom), (255, 255, 255), 1)
    return _f32(panel)


def steps_figure(low_res, steps, filters):
    """Spec 8.3: row 0 the low-res trajectory; under each step its decision, operation and mask panels.

    low_res: list of n (64, 64, 3) images (input + one per step); steps: list of dicts with
    'action', 'pdf', 'params' (user-unit parameters of the chosen filter) for one image.
    """
    n = len(low_res)
    canvas = np.ones((4 * CELL, CELL * n, 3), np.float32)
    names = [f.short_name for f in filters]
    for i, img in enumerate(low_res):
        canvas[0:64, CELL * i:CELL * i + 64] = tile(img)
    for i, step in enumerate(steps):
        x = CELL * i + CELL // 2
        f = filters[step['action']]
        canvas[68:132, x:x + 64] = decision_panel(step['pdf'], step['action'], names)
        canvas[134:198, x:x + 64] = f.visualize(np.asarray(step['params']), 64)
        canvas[200:264, x:x + 64] = 0.8   # the mask panel: uniform, since masking is off
    return canvas


def _label(img_u8, text, org, scale, colour):
    cv2.putText(img_u8, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def scored_tile(img, score=None, state=None, top_text=None, step=None):
    """A 64-px tile with the overlays of spec 9.1: translucent top/bottom strips, the centred
    discriminator score (bottom), "value reward" (top), the state vector and the step index."""
    t = tile(img)
    if score is not None or top_text is not None:
        t[-14:] = 0.5 * t[-14:] + 0.25
        if top_text is not None:
            t[:14] = 0.5 * t[:14] + 0.25
    t = _u8(t)
    if score is not None:
        red = 0.5 - 0.5 * np.tanh(score / 10)
        _label(t, f'{score:+.3f}', (10, 60), 0.35, tuple(int(255 * c) for c in (1, 1 - red, 1 - red)))
    if top_text is not None:
        _label(t, top_text, (3, 7), 0.25, (255, 255, 255))
    if state is not None:
        _label(t, ' '.join(f'{v:g}' for v in np.asarray(state)[:3]), (4, 33), 0.25, (255, 0, 0))
    if step is not None:
        _label(t, str(step), (23, 23), 0.5, (255, 0, 0))
    return _f32(t)


def grid(tiles, columns=8):
    """8 x 8 grid of 64-px tiles with 2-px white padding per side (68-px cells)."""
    rows = -(-len(tiles) // columns)
    out = np.ones((rows * CELL, columns * CELL, 3), np.float32)
    for k, t in enumerate(tiles):
        y, x = CELL * (k // columns) + 2, CELL * (k % columns) + 2
        out[y:y + 64, x:x + 64] = t
    return out


def training_figure(sequences, replay, results, targets):
    """Spec 9.1: learned operating sequences on top; replay buffer, results and targets below.

    sequences: list (up to 8) of lists of column dicts {'image', 'gradient', 'panel', 'text', 'score'}
    (the initial image plus one column per step); replay/results/targets: lists of 64-px tiles.
    """
    width = 3 * 8 * CELL + 2 * 16
    top = np.ones((16 + 2 * 3 * 66 + 16 + 16, width, 3), np.float32)
    group_width = 6 * CELL + 16
    for k, seq in enumerate(sequences[:8]):
        gy = 16 + (k // 4) * (3 * 66 + 16)
        gx = (k % 4) * group_width
        for c, col in enumerate(seq[:6]):
            x = gx + CELL * c
            if x + 64 > width:
                break
            top[gy:gy + 64, x:x + 64] = scored_tile(col['image'], col.get('score'), top_text=col.get('text'))
            top[gy + 66:gy + 130, x:x + 64] = tile(np.asarray(col['gradient']) * 10 + 0.5)
            top[gy + 132:gy + 196, x:x + 64] = col['panel']
    bottom = np.ones((8 * CELL, width, 3), np.float32)
    for k, tiles in enumerate((replay, results, targets)):
        g = grid(tiles[:64])
        x = k * (8 * CELL + 16)
        bottom[:g.shape[0], x:x + g.shape[1]] = g
    return np.concatenate([top, bottom], axis=0)
