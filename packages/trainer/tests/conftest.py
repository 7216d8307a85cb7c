import os
import sys

import numpy as np
import pytest

TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(TRAINER))
VECTORS = os.path.join(REPO, "packages", "core", "test", "vectors")
if TRAINER not in sys.path:
    sys.path.insert(0, TRAINER)


def synthetic_hr(h: int, w: int, seed: int, dtype=np.uint16, shift: float = 0.0) -> np.ndarray:
    """Cells-like test image: smooth blobs with sharp rims on a dim background (content to learn)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), 200.0)
    for _ in range(12):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w) + shift
        r = rng.uniform(6, 18)
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        img += 2500.0 * np.exp(-((d - r) ** 2) / 4.0) + 800.0 * (d < r)
    img += 300.0 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    if np.dtype(dtype).kind == "u":
        return np.clip(img, 0, np.iinfo(dtype).max).astype(dtype)
    return img.astype(dtype)


@pytest.fixture
def tiny_dataset(tmp_path):
    import tifffile

    d = tmp_path / "hr"
    d.mkdir()
    for i in range(3):
        tifffile.imwrite(str(d / f"img{i}.tif"), synthetic_hr(160, 176, i))
    return d
