#!/usr/bin/python3
"""Regenerates the shared test vectors of docs/CONTRACTS.md (run: /usr/bin/python3 generate.py).

The TypeScript core (packages/core/test) and the Python trainer both check these files, so the two
implementations of percentiles, degradation, interpolation and metrics cannot drift apart.
References: numpy 1.24 (percentiles), a numpy transcription of CONTRACTS.md (degradation, bicubic),
PyTorch F.interpolate (bilinear), scikit-image 0.19 (PSNR, SSIM).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, obj):
    path = os.path.join(HERE, name)
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {path} ({os.path.getsize(path)} bytes)', file=sys.stderr)


def as_list(a):
    a = np.asarray(a)
    if a.dtype.kind == 'f':
        return [float(v) for v in a.ravel()]
    return [int(v) for v in a.ravel()]


PCTS = [0, 0.1, 1, 2.5, 25, 33.3, 50, 66.6, 75, 99, 99.9, 100]


def percentile_vectors():
    rng = np.random.default_rng(1)
    cases = []

    def add(name, arr):
        arr = np.asarray(arr)
        cases.append({'name': name, 'dtype': str(arr.dtype), 'values': as_list(arr),
                      'percentiles': PCTS, 'expected': [float(v) for v in np.percentile(arr, PCTS)]})

    add('uint8 uniform', rng.integers(0, 256, size=37 * 41, dtype=np.uint8))
    add('uint8 constant', np.full(100, 7, dtype=np.uint8))
    add('uint8 single', np.array([200], dtype=np.uint8))
    add('uint8 two', np.array([3, 250], dtype=np.uint8))
    add('uint16 uniform', rng.integers(0, 65536, size=4999, dtype=np.uint16))
    add('uint16 skewed', np.minimum(rng.exponential(300, size=3001), 65535).astype(np.uint16))
    add('float32 normal', (rng.normal(size=2999) * 1000).astype(np.float32))
    add('float32 with duplicates', rng.integers(-5, 5, size=1234).astype(np.float32) * np.float32(0.1))
    add('float64 lognormal', rng.lognormal(size=1501))
    return {'note': 'numpy.percentile(values, percentiles), numpy ' + np.__version__, 'cases': cases}


def keys_cubic(x, a=-0.5):
    x = np.abs(x)
    return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((x - 5) * x + 8) * x * a - 4 * a, 0.0))


def bicubic_matrix(n, scale=4):
    """(scale*n) x n matrix of CONTRACTS.md bicubic: Keys a=-0.5, half-pixel centres, edge clamp."""
    m = np.zeros((scale * n, n))
    for j in range(scale * n):
        src = (j + 0.5) / scale - 0.5
        i0 = int(np.floor(src))
        t = src - i0
        for k in range(4):
            m[j, min(max(i0 - 1 + k, 0), n - 1)] += keys_cubic(t + 1 - k)
    return m


def upsample_bicubic4(img):
    img = np.asarray(img, dtype=np.float64)
    return bicubic_matrix(img.shape[0]) @ img @ bicubic_matrix(img.shape[1]).T


def upsample_bilinear4(img):
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    return F.interpolate(t, scale_factor=4, mode='bilinear', align_corners=False)[0, 0].numpy()


def check_bicubic_against_pil(img):
    """PIL's BICUBIC (a=-0.5, same centres) agrees away from the borders, where PIL renormalises its
    truncated kernel instead of clamping to the edge pixel."""
    from PIL import Image
    h, w = img.shape
    pil = np.asarray(Image.fromarray(img.astype(np.float32), mode='F').resize((4 * w, 4 * h), Image.BICUBIC))
    ours = upsample_bicubic4(img)
    interior = (slice(8, 4 * h - 8), slice(8, 4 * w - 8))
    diff = np.abs(pil[interior] - ours[interior]).max()
    assert diff < 1e-3 * max(1.0, np.abs(img).max()), f'bicubic reference disagrees with PIL: {diff}'
    return float(diff)


def upsample_vectors():
    rng = np.random.default_rng(2)
    cases = []
    inputs = {
        'random 5x7': rng.random((5, 7)).astype(np.float32),
        'random 8x8 signed': (rng.normal(size=(8, 8)) * 100).astype(np.float32),
        'ramp 6x4': (np.arange(6)[:, None] * 10 + np.arange(4)[None, :]).astype(np.float32),
        'single row 1x3': np.array([[1, 5, -2]], dtype=np.float32),
        'single pixel 1x1': np.array([[3.5]], dtype=np.float32),
    }
    pil_diff = 0.0
    for name, img in inputs.items():
        if min(img.shape) >= 5:
            pil_diff = max(pil_diff, check_bicubic_against_pil(img))
        cases.append({'name': name, 'height': img.shape[0], 'width': img.shape[1], 'input': as_list(img),
                      'bilinear': as_list(upsample_bilinear4(img)),
                      'bicubic': as_list(upsample_bicubic4(img).astype(np.float32))})
    import torch
    return {'note': 'bilinear: torch %s F.interpolate(scale_factor=4, mode=bilinear, align_corners=False); '
                    'bicubic: numpy Keys a=-0.5, half-pixel centres, edge clamp (max interior diff to PIL '
                    'BICUBIC: %.2e)' % (torch.__version__, pil_diff),
            'cases': cases}


def main():
    write('percentiles.json', percentile_vectors())
    write('upsample.json', upsample_vectors())


if __name__ == '__main__':
    main()
