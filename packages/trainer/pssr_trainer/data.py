"""HR image stacks -> training and validation data.

A *series* is an ordered list of equally sized HR frames (a time-lapse, a z-stack, or one image). Multi-page
TIFFs are one series each; single-page images of one folder with equal shapes form one series in name order
(serial sections, a time-lapse saved as T00.tif, T01.tif, ...). 5-frame inputs are frames t-2..t+2 around the
HR centre frame (PSSR's multi-frame model, Fang et al.), mirrored at the ends as CONTRACTS says.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .degrade import (SCALE, DegradationSpec, crop_to_scale, degrade, frame_window, percentile_range)
from .errors import TrainInputError

TIFF_EXT = (".tif", ".tiff")


@dataclass
class Frame:
    hr: np.ndarray                 # float32, cropped to multiples of 4
    dtype: np.dtype                # the file's sample type (outputs are rounded/clipped to it)
    hr_range: Tuple[float, float]  # 0.1/99.9 percentiles of the HR frame (degradation scale)
    lr_range: Tuple[float, float]  # same percentiles of a degraded whole frame (model normalisation)


@dataclass
class Series:
    name: str                      # file or folder, for messages and the card
    frames: List[Frame]
    label: str = ""                # e.g. "frames 24..29" for a held-out part

    @property
    def shape(self) -> Tuple[int, int]:
        return self.frames[0].hr.shape


@dataclass
class DataSplit:
    train: List[Series]
    val: List[Series]
    descriptions: Dict[str, List[str]] = field(default_factory=dict)


def _expand(paths: Sequence[str]) -> List[Tuple[str, List[str]]]:
    """Each entry -> (name, files). Globs are expanded; folders list their TIFFs."""
    out = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            files = sorted(f for f in glob.glob(p) if f.lower().endswith(TIFF_EXT))
            if not files:
                raise TrainInputError(f"{p}: no TIFF files match this pattern")
            out.append((p, files))
        elif os.path.isdir(p):
            files = sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(TIFF_EXT))
            if not files:
                raise TrainInputError(f"{p}: folder has no TIFF images (.tif/.tiff); training needs HR images")
            out.append((p, files))
        elif os.path.isfile(p):
            out.append((p, [p]))
        else:
            raise TrainInputError(f"{p}: no such file or folder")
    return out


def read_stack(path: str, channel: Optional[int]) -> Tuple[np.ndarray, np.dtype]:
    """A TIFF -> [frames, H, W] array of its native dtype (channel chosen for multi-channel images)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            axes = series.axes
            arr = series.asarray()
    except Exception as e:  # corrupt or not a TIFF
        raise TrainInputError(f"{path}: cannot read as TIFF ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    if arr.size == 0:
        raise TrainInputError(f"{path}: the image is empty")
    if arr.dtype.kind == "c" or arr.dtype == np.bool_:
        raise TrainInputError(f"{path}: unsupported sample type {arr.dtype}; use 8/16-bit or float grayscale")
    for ch_axis in ("S", "C"):
        if ch_axis in axes and arr.shape[axes.index(ch_axis)] > 1:
            n = arr.shape[axes.index(ch_axis)]
            if channel is None:
                raise TrainInputError(f"{path}: image has {n} channels; choose one with the 'channel' option (0..{n - 1})")
            if not 0 <= channel < n:
                raise TrainInputError(f"{path}: channel {channel} does not exist; the image has channels 0..{n - 1}")
            arr = np.take(arr, channel, axis=axes.index(ch_axis))
            axes = axes.replace(ch_axis, "")
    if arr.ndim < 2:
        raise TrainInputError(f"{path}: not a 2D image (shape {arr.shape})")
    arr = arr.reshape((-1,) + arr.shape[-2:])
    return arr, arr.dtype


def _check_frames(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.nonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))[0][0])
        raise TrainInputError(f"{name}: frame {bad} contains NaN or infinite values; training needs finite pixels")


def load_series(paths: Sequence[str], channel: Optional[int], frames: int, min_hr: int) -> List[Tuple[str, np.ndarray, np.dtype]]:
    """Read everything and apply the checks that produce clear one-line messages."""
    result = []
    for name, files in _expand(paths):
        singles: List[Tuple[str, np.ndarray, np.dtype]] = []
        for f in files:
            arr, dt = read_stack(f, channel)
            _check_frames(f, arr)
            h, w = arr.shape[-2:]
            if h < min_hr or w < min_hr:
                raise TrainInputError(f"{f}: image is {w}x{h} pixels, smaller than one training tile "
                                      f"({min_hr}x{min_hr} HR pixels); use larger images or a smaller 'tile'")
            if arr.shape[0] == 1 and len(files) > 1:
                singles.append((f, arr, dt))
            else:
                result.append((f, arr, dt))
        if singles:
            shapes = {a.shape[-2:] for _, a, _ in singles}
            if len(shapes) > 1:
                if frames > 1:
                    desc = ", ".join(f"{os.path.basename(f)} {a.shape[-1]}x{a.shape[-2]}" for f, a, _ in singles[:3])
                    raise TrainInputError(f"{name}: frames of this 5-frame series differ in size ({desc}, ...); "
                                          "all frames of a series must have the same width and height")
                result.extend(singles)  # single-frame training: independent images are fine
            else:
                dts = {d for _, _, d in singles}
                result.append((name, np.concatenate([a for _, a, _ in singles]), singles[0][2] if len(dts) == 1 else np.dtype(np.float32)))
    if frames > 1:
        for name, arr, _ in result:
            if arr.shape[0] < 3:
                raise TrainInputError(f"{name}: has {arr.shape[0]} frame(s); 5-frame training needs time-lapses or "
                                      "z-stacks of at least 3 frames (a folder of single images counts as one series)")
    return result


def make_frames(arr: np.ndarray, dtype: np.dtype, spec: DegradationSpec, rng: np.random.Generator) -> List[Frame]:
    out = []
    for k in range(arr.shape[0]):
        hr = crop_to_scale(arr[k]).astype(np.float32)
        hr_range = percentile_range(hr)
        # CONTRACTS: the model's lo/hi come from a degraded (LR) version of the whole frame, as at inference.
        lr_range = percentile_range(degrade(hr, spec, rng, hr_range))
        out.append(Frame(hr, np.dtype(dtype), hr_range, lr_range))
    return out


def split_data(paths: Sequence[str], val_paths: Optional[Sequence[str]], val_fraction: float, channel: Optional[int],
               frames: int, min_hr: int, spec: DegradationSpec, rng: np.random.Generator) -> DataSplit:
    """Training series and held-out validation series.

    With explicit validation data it is used as is. Otherwise the last `val_fraction` of every multi-frame
    series is held out (a later part of a time-lapse), and single images give up a bottom strip."""
    loaded = load_series(paths, channel, frames, min_hr)
    train: List[Series] = []
    val: List[Series] = []
    desc_train, desc_val = [], []
    if val_paths:
        for name, arr, dt in load_series(val_paths, channel, frames, 4 * 8):
            val.append(Series(name, make_frames(arr, dt, spec, rng)))
            desc_val.append(_describe(name, arr.shape[0]))
        for name, arr, dt in loaded:
            train.append(Series(name, make_frames(arr, dt, spec, rng)))
            desc_train.append(_describe(name, arr.shape[0]))
        return DataSplit(train, val, {"train": desc_train, "val": desc_val})
    for name, arr, dt in loaded:
        n = arr.shape[0]
        if val_fraction <= 0:
            train.append(Series(name, make_frames(arr, dt, spec, rng)))
            desc_train.append(_describe(name, n))
            continue
        if n >= 2:
            k = max(1, int(round(n * val_fraction)))
            if n - k < 1:
                k = n - 1
            train.append(Series(name, make_frames(arr[: n - k], dt, spec, rng), f"frames 0..{n - k - 1}"))
            val.append(Series(name, make_frames(arr[n - k:], dt, spec, rng), f"frames {n - k}..{n - 1}"))
            desc_train.append(f"{name} frames 0..{n - k - 1}")
            desc_val.append(f"{name} frames {n - k}..{n - 1}")
        else:
            h = arr.shape[1]
            rows = int(round(h * val_fraction / 8)) * 8
            if rows >= 64 and h - rows >= min_hr:
                train.append(Series(name, make_frames(arr[:, : h - rows], dt, spec, rng), f"rows 0..{h - rows - 1}"))
                val.append(Series(name, make_frames(arr[:, h - rows:], dt, spec, rng), f"rows {h - rows}..{h - 1}"))
                desc_train.append(f"{name} rows 0..{h - rows - 1}")
                desc_val.append(f"{name} rows {h - rows}..{h - 1}")
            else:
                train.append(Series(name, make_frames(arr, dt, spec, rng)))
                desc_train.append(_describe(name, n))
    return DataSplit(train, val, {"train": desc_train, "val": desc_val})


def _describe(name: str, n: int) -> str:
    return name if n == 1 else f"{name} ({n} frames)"


def normalise(x: np.ndarray, rng_: Tuple[float, float]) -> np.ndarray:
    lo, hi = rng_
    return ((x - lo) / (hi - lo)).astype(np.float32)


class TileSampler:
    """Random training tiles with fresh degradation noise every time.

    Tiles are 4-aligned so degrading the tile equals cropping the degraded whole frame; degradation uses
    the whole frame's HR percentiles and normalisation the whole degraded frame's, never the tile's.
    With `any_phase` a tile may start at any HR pixel: each of the 16 sampling phases of the 4x grid is a
    different, equally valid acquisition of the specimen (16x more distinct LR/HR pairs from the same
    images); the tile is then degraded as an image of its own, on its own pixel-centre grid."""

    def __init__(self, series: List[Series], frames: int, lr_tile: int, spec: DegradationSpec,
                 rng: np.random.Generator, gamma_jitter: float = 0.0, content_tries: int = 8,
                 any_phase: bool = False):
        self.series = series
        self.frames = frames
        self.lr_tile = lr_tile
        self.hr_tile = lr_tile * SCALE
        self.spec = spec
        self.rng = rng
        self.gamma_jitter = gamma_jitter
        self.content_tries = content_tries
        self.step = 1 if any_phase else SCALE
        # sample (series, frame) in proportion to area so big images are not under-used
        items = [(si, fi) for si, s in enumerate(series) for fi in range(len(s.frames))]
        weights = np.array([series[si].frames[fi].hr.size for si, fi in items], dtype=np.float64)
        self.items = items
        self.p = weights / weights.sum()
        self.thresholds = {item: self._content_threshold(*item) for item in items}

    def _content_threshold(self, si: int, fi: int) -> float:
        """Tiles with content: a tile must have at least the 30th percentile of tile contrast in its frame."""
        fr = self.series[si].frames[fi]
        stds = [self._contrast(fr, *self._position(fr)) for _ in range(48)]
        return float(np.percentile(stds, 30))

    def _position(self, fr: Frame) -> Tuple[int, int]:
        h, w = fr.hr.shape
        y = int(self.rng.integers(0, (h - self.hr_tile) // self.step + 1)) * self.step
        x = int(self.rng.integers(0, (w - self.hr_tile) // self.step + 1)) * self.step
        return y, x

    def _contrast(self, fr: Frame, y: int, x: int) -> float:
        t = fr.hr[y: y + self.hr_tile: 4, x: x + self.hr_tile: 4]
        return float(t.std() / (fr.hr_range[1] - fr.hr_range[0]))

    def sample(self, batch: int) -> Tuple[np.ndarray, np.ndarray]:
        xs = np.empty((batch, self.frames, self.lr_tile, self.lr_tile), np.float32)
        ys = np.empty((batch, 1, self.hr_tile, self.hr_tile), np.float32)
        for b in range(batch):
            si, fi = self.items[int(self.rng.choice(len(self.items), p=self.p))]
            s = self.series[si]
            centre = s.frames[fi]
            for _ in range(self.content_tries):
                y, x = self._position(centre)
                if self._contrast(centre, y, x) >= self.thresholds[(si, fi)]:
                    break
            k = int(self.rng.integers(8))  # dihedral group: 4 rotations x optional flip
            gamma = float(np.exp(self.rng.uniform(-self.gamma_jitter, self.gamma_jitter))) if self.gamma_jitter else 1.0
            for j, t in enumerate(frame_window(fi, len(s.frames), self.frames)):
                fr = s.frames[t]
                hr = _dihedral(fr.hr[y: y + self.hr_tile, x: x + self.hr_tile], k)
                hr_range, lr_range = fr.hr_range, fr.lr_range
                if gamma != 1.0:
                    hr, hr_range, lr_range = _gamma(hr, fr, gamma)
                lr = degrade(hr, self.spec, self.rng, hr_range)
                xs[b, j] = normalise(lr, lr_range)
                if j == self.frames // 2:  # target: the HR centre frame
                    ys[b, 0] = normalise(hr, lr_range)
        return xs, ys


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    # The centre-mean-2x2 sampling is symmetric inside each 4x4 block, so flips/rotations of a 4-aligned
    # HR tile commute with degradation: the geometry stays pixel-centred.
    a = np.rot90(a, k % 4)
    return np.ascontiguousarray(a[:, ::-1] if k >= 4 else a)


def _gamma(hr: np.ndarray, fr: Frame, gamma: float):
    """Contrast (gamma) jitter for small fluorescence sets: a monotone map on the frame's percentile scale,
    applied to the ranges too (percentiles commute with monotone maps)."""
    lo, hi = fr.hr_range

    def f(v):
        u = (np.asarray(v, dtype=np.float64) - lo) / (hi - lo)
        return np.sign(u) * np.abs(u) ** gamma * (hi - lo) + lo

    return f(hr).astype(np.float32), (lo, hi), tuple(float(v) for v in f(np.array(fr.lr_range)))


def frame_inputs(series: Series, t: int, frames: int, lr_frames: List[np.ndarray]) -> np.ndarray:
    """Normalised [F, h, w] model input for output frame t from pre-degraded LR frames of a series."""
    return np.stack([normalise(lr_frames[k], percentile_range(lr_frames[k])) for k in frame_window(t, len(series.frames), frames)])
