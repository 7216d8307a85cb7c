"""Degradation ("crappification"), normalisation and interpolation, exactly as docs/CONTRACTS.md says.

PSSR (Fang et al.) trains from HR images only: LR inputs are made by adding the modality's noise on a
0-255 scale and sampling every 4th pixel per axis. The geometry is the pixel-centre one: LR pixel i covers
HR pixels 4i..4i+3 and is sampled at HR coordinate 4i+1.5, i.e. first-order sampling there is the mean of
the 2x2 HR pixels (4i+1, 4i+2) x (4j+1, 4j+2). The TypeScript engine (packages/core) implements the same
rules; shared test vectors in packages/core/test/vectors/ check both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

SCALE = 4
PERCENTILES = (0.1, 99.9)
RECIPES = ("em", "fluo", "poisson", "none")


@dataclass(frozen=True)
class DegradationSpec:
    recipe: str
    gaussian_sigma: float
    salt_pepper: float
    poisson_peak: Optional[float]

    def to_card(self) -> dict:
        return {
            "recipe": self.recipe,
            "gaussianSigma": self.gaussian_sigma,
            "saltPepper": self.salt_pepper,
            "poissonPeak": self.poisson_peak,
            "scale": SCALE,
            "sampling": "centre-mean-2x2",
            "percentiles": list(PERCENTILES),
        }


def degradation_spec(recipe: str, poisson_peak: float = 30.0) -> DegradationSpec:
    """The paper's recipes: EM = Gaussian sigma 3; fluorescence = salt-and-pepper 0.5% then Gaussian sigma 5."""
    if recipe == "em":
        return DegradationSpec("em", 3.0, 0.0, None)
    if recipe == "fluo":
        return DegradationSpec("fluo", 5.0, 0.005, None)
    if recipe == "poisson":
        return DegradationSpec("poisson", 0.0, 0.0, float(poisson_peak))
    if recipe == "none":
        return DegradationSpec("none", 0.0, 0.0, None)
    raise ValueError(f"unknown degradation recipe {recipe!r}; allowed: {', '.join(RECIPES)}")


def spec_from_card(card: dict) -> DegradationSpec:
    return DegradationSpec(card["recipe"], float(card.get("gaussianSigma") or 0.0),
                           float(card.get("saltPepper") or 0.0),
                           None if card.get("poissonPeak") is None else float(card["poissonPeak"]))


def percentile_range(values: np.ndarray, low: float = PERCENTILES[0], high: float = PERCENTILES[1]) -> Tuple[float, float]:
    """numpy's default ('linear') percentiles; hi <= lo falls back to hi = lo + 1 (CONTRACTS)."""
    lo, hi = np.percentile(np.asarray(values, dtype=np.float64), [low, high])
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def crop_to_scale(hr: np.ndarray) -> np.ndarray:
    h, w = hr.shape[-2:]
    return hr[..., : h - h % SCALE, : w - w % SCALE]


def downsample4(s: np.ndarray) -> np.ndarray:
    """First-order sampling at LR pixel centres: mean of HR pixels (4i+1, 4i+2) x (4j+1, 4j+2)."""
    s = crop_to_scale(s)
    a = s[..., 1::SCALE, 1::SCALE]
    b = s[..., 1::SCALE, 2::SCALE]
    c = s[..., 2::SCALE, 1::SCALE]
    d = s[..., 2::SCALE, 2::SCALE]
    return (a.astype(np.float64) + b + c + d) * 0.25


def add_noise(s: np.ndarray, spec: DegradationSpec, rng: np.random.Generator) -> np.ndarray:
    """Noise on the paper's 0-255 scale, in the CONTRACTS order. Pixels are independent, so degrading a
    4-aligned tile equals cropping the degraded whole frame (in distribution)."""
    if spec.recipe == "em":
        return s + rng.normal(0.0, spec.gaussian_sigma, size=s.shape)
    if spec.recipe == "fluo":
        s = s.copy()
        hit = rng.random(size=s.shape) < spec.salt_pepper
        salt = rng.random(size=s.shape) < 0.5
        s[hit & salt] = 255.0
        s[hit & ~salt] = 0.0
        return s + rng.normal(0.0, spec.gaussian_sigma, size=s.shape)
    if spec.recipe == "poisson":
        peak = spec.poisson_peak if spec.poisson_peak is not None else 30.0
        return rng.poisson(np.maximum(s, 0.0) / 255.0 * peak) / peak * 255.0
    if spec.recipe == "none":
        return s
    raise ValueError(f"unknown degradation recipe {spec.recipe!r}")


def degrade(hr: np.ndarray, spec: DegradationSpec, rng: np.random.Generator,
            hr_range: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """HR frame (or 4-aligned tile of it, with the whole frame's `hr_range`) -> LR float32, 4x smaller.

    hr_range is (lo, hi) = the 0.1/99.9 percentiles of the whole HR frame; computed here when omitted."""
    hr = crop_to_scale(np.asarray(hr))
    lo, hi = hr_range if hr_range is not None else percentile_range(hr)
    s = (hr.astype(np.float64) - lo) / (hi - lo) * 255.0
    s = add_noise(s, spec, rng)
    lr = downsample4(s)
    return (lr / 255.0 * (hi - lo) + lo).astype(np.float32)


# --- interpolation baselines, pixel-centre convention (HR pixel j sits at LR coordinate (j - 1.5) / 4) ---

def _axis_weights_bilinear(n: int) -> Tuple[np.ndarray, np.ndarray]:
    j = np.arange(n * SCALE, dtype=np.float64)
    x = np.maximum((j + 0.5) / SCALE - 0.5, 0.0)  # PyTorch clamps negative source coordinates to 0
    x0 = np.floor(x).astype(np.int64)
    t = x - x0
    idx = np.stack([x0, x0 + 1], axis=1).clip(0, n - 1)
    return idx, np.stack([1.0 - t, t], axis=1)


def _keys(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def _axis_weights_bicubic(n: int) -> Tuple[np.ndarray, np.ndarray]:
    j = np.arange(n * SCALE, dtype=np.float64)
    x = (j + 0.5) / SCALE - 0.5
    x0 = np.floor(x).astype(np.int64)
    taps = np.stack([x0 - 1, x0, x0 + 1, x0 + 2], axis=1)
    w = _keys(x[:, None] - taps)
    return taps.clip(0, n - 1), w  # edge clamp


def _separable(src: np.ndarray, wy, wx) -> np.ndarray:
    iy, ky = wy
    ix, kx = wx
    src = np.asarray(src, dtype=np.float64)
    rows = (src[..., iy, :] * ky[..., None]).sum(axis=-2)  # [..., H, w]
    return (rows[..., ix] * kx).sum(axis=-1)


def upsample_bilinear4(lr: np.ndarray) -> np.ndarray:
    h, w = lr.shape[-2:]
    return _separable(lr, _axis_weights_bilinear(h), _axis_weights_bilinear(w))


def upsample_bicubic4(lr: np.ndarray) -> np.ndarray:
    """Keys kernel a = -0.5 (PIL / OpenCV INTER_CUBIC), pixel centres, edge clamp."""
    h, w = lr.shape[-2:]
    return _separable(lr, _axis_weights_bicubic(h), _axis_weights_bicubic(w))


def frame_window(t: int, n: int, size: int) -> list:
    """Frames t-2..t+2 (PSSR's 5-frame input); mirrored without repeating the edge, then clamped."""
    if size == 1:
        return [t]
    out = []
    for k in range(t - size // 2, t + size // 2 + 1):
        if k < 0:
            k = -k
        elif k > n - 1:
            k = 2 * (n - 1) - k
        out.append(min(max(k, 0), n - 1))
    return out


def to_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """Output mapping of CONTRACTS: round half away from zero and clip for integer types."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        r = np.sign(x) * np.floor(np.abs(x) + 0.5)
        return np.clip(r, info.min, info.max).astype(dtype)
    return x.astype(np.float32)

