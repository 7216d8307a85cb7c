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


DATASETS = os.path.normpath(os.path.join(HERE, '../../../../../shared/datasets'))
if not os.path.isdir(DATASETS):
    DATASETS = '/work/shared/datasets'


def em_crop(y, x, size):
    """A crop of ssTEM section 16 (held out of training). CC BY-NC-SA 3.0, Gerhard et al.,
    doi:10.6084/m9.figshare.856713; small derived crops for tests are allowed."""
    import tifffile
    return tifffile.imread(os.path.join(DATASETS, 'em-sstem-vnc/stack1_16.tif'))[y:y + size, x:x + size].copy()


def fluo_crop(y, x, h, w):
    """A crop of frame 0 of cancer_cell_migration_crop.tif (uint16; CC BY 4.0, Tinevez & Jacquemet,
    zenodo 5206107)."""
    import tifffile
    a = tifffile.imread(os.path.join(DATASETS, 'fluo/cancer_cell_migration_crop.tif'))
    return a[0, y:y + h, x:x + w].copy()


def degrade_none(hr, pcts=(0.1, 99.9)):
    """CONTRACTS.md degradation with recipe 'none', in float64: crop to multiples of 4, percentile range
    of the cropped frame, 0-255 scale, mean of the 2x2 HR pixels around each LR centre, map back."""
    h, w = hr.shape
    hr = hr[:h // 4 * 4, :w // 4 * 4]
    lo, hi = (float(v) for v in np.percentile(hr, pcts))
    if hi <= lo:
        hi = lo + 1
    s = (hr.astype(np.float64) - lo) / (hi - lo) * 255
    lr = (s[1::4, 1::4] + s[1::4, 2::4] + s[2::4, 1::4] + s[2::4, 2::4]) / 4
    return (lr / 255 * (hi - lo) + lo).astype(np.float32), lo, hi


def degrade_vectors():
    rng = np.random.default_rng(3)
    inputs = {
        'em ssTEM crop uint8 32x32': em_crop(600, 400, 32),
        'fluo crop uint16 22x25 (cropped to 20x24)': fluo_crop(50, 40, 22, 25),
        'constant uint8 8x8 (hi = lo + 1)': np.full((8, 8), 42, dtype=np.uint8),
        'synthetic uint16 17x13': (np.arange(17)[:, None] * 900 + np.arange(13)[None, :] * 37
                                   + rng.integers(0, 500, size=(17, 13))).astype(np.uint16),
        'synthetic float32 12x16 signed': (rng.normal(size=(12, 16)) * 3 - 1).astype(np.float32),
    }
    cases = []
    for name, hr in inputs.items():
        lr, lo, hi = degrade_none(hr)
        cases.append({'name': name, 'dtype': str(hr.dtype), 'height': hr.shape[0], 'width': hr.shape[1],
                      'input': as_list(hr), 'recipe': 'none', 'percentiles': [0.1, 99.9], 'lo': lo, 'hi': hi,
                      'lrHeight': lr.shape[0], 'lrWidth': lr.shape[1], 'expected': as_list(lr)})
    return {'note': 'CONTRACTS.md degradation, recipe none, float64 numpy reference; LR stored as float32. '
                    'Crops: ssTEM stack1_16 (CC BY-NC-SA 3.0, Gerhard et al., doi:10.6084/m9.figshare.856713); '
                    'cancer_cell_migration_crop frame 0 (CC BY 4.0, Tinevez & Jacquemet, zenodo 5206107).',
            'cases': cases}


def metric_vectors():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    rng = np.random.default_rng(4)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # test images stored exactly as float32

    def bilinear_restore(hr):
        lr, _, _ = degrade_none(hr)
        return upsample_bilinear4(lr)

    em = em_crop(300, 500, 64)
    em2 = em_crop(700, 100, 64)
    fl = fluo_crop(60, 60, 48, 40)
    yy, xx = np.mgrid[0:33, 0:50]
    wave = 100 + 50 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    pairs = {
        'em crop vs gaussian noise sigma 10': (em, f32(em + rng.normal(0, 10, em.shape))),
        'em crop vs bilinear restoration of its degraded version': (em2, f32(bilinear_restore(em2))),
        'fluo uint16 crop vs poisson-like noise': (fl, f32(fl + rng.normal(0, 1, fl.shape) * np.sqrt(fl + 1.0) * 3)),
        'synthetic 33x50 wave vs shifted and scaled': (wave, f32(wave[:, ::-1] * 0.8 + 7)),
        'synthetic 7x7 minimum size': (rng.random((7, 7)), f32(rng.random((7, 7)))),
        'synthetic 9x20 negative values': (rng.normal(size=(9, 20)) - 5, f32(rng.normal(size=(9, 20)) * 0.5 - 5)),
    }
    cases = []
    for name, (ref, test) in pairs.items():
        ref64 = np.asarray(ref, dtype=np.float64)
        test64 = np.asarray(test, dtype=np.float64)
        dr = float(ref64.max() - ref64.min())
        cases.append({'name': name, 'height': ref.shape[0], 'width': ref.shape[1],
                      'reference': as_list(ref), 'test': as_list(test), 'dataRange': dr,
                      'psnr': float(peak_signal_noise_ratio(ref64, test64, data_range=dr)),
                      'ssim': float(structural_similarity(ref64, test64, data_range=dr))})
    import skimage
    return {'note': 'scikit-image %s peak_signal_noise_ratio / structural_similarity (defaults: 7x7 uniform '
                    'window, K1 0.01, K2 0.03, sample covariance) on float64 copies, data_range = '
                    'max(ref) - min(ref). Crops: ssTEM stack1_16 (CC BY-NC-SA 3.0, Gerhard et al., '
                    'doi:10.6084/m9.figshare.856713); cancer_cell_migration_crop frame 0 (CC BY 4.0, '
                    'Tinevez & Jacquemet, zenodo 5206107).' % skimage.__version__,
            'cases': cases}


def resize_vectors():
    """Pixel-size matching (packages/core pixelsize.ts): Pillow's antialiased bicubic resize of float images,
    shrinking and enlarging, square and not, including the factors of 10 nm <-> 4.6 nm data."""
    from PIL import Image

    rng = np.random.default_rng(7)
    cases = []
    for name, (h, w), (oh, ow) in (('shrink 2.17x', (26, 24), (12, 11)), ('enlarge 2.17x', (11, 12), (24, 26)),
                                   ('shrink 1.25x', (20, 20), (16, 16)), ('mixed axes', (9, 17), (15, 8)),
                                   ('identity', (7, 5), (7, 5)), ('one row', (1, 9), (3, 4))):
        img = (rng.random((h, w)) * 200 + np.add.outer(np.arange(h), np.arange(w)) * 3).astype(np.float32)
        out = np.asarray(Image.fromarray(img).resize((ow, oh), resample=Image.BICUBIC), dtype=np.float32)
        cases.append({'name': name, 'height': h, 'width': w, 'outHeight': oh, 'outWidth': ow,
                      'input': as_list(img), 'expected': as_list(out)})
    return {'reference': 'Pillow Image.resize(BICUBIC) on mode F', 'cases': cases}


def main():
    write('percentiles.json', percentile_vectors())
    write('upsample.json', upsample_vectors())
    write('degrade.json', degrade_vectors())
    write('metrics.json', metric_vectors())
    write('resize.json', resize_vectors())


if __name__ == '__main__':
    main()
