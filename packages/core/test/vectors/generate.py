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


def main():
    write('percentiles.json', percentile_vectors())


if __name__ == '__main__':
    main()
