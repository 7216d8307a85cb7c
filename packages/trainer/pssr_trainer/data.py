"""HR image stacks -> training and validation data.

A *series* is an ordered list of equally sized HR frames (a time-lapse, a z-stack, or one image). Multi-page
TIFFs are one series each; single-page images of one folder with equal shapes form one series in name order
(serial sections, a time-lapse saved as T00.tif, T01.tif, ...). 5-frame inputs are frames t-2..t+2 around the
HR centre frame (PSSR's multi-frame model, Fang et al.), mirrored at the ends as CONTRACTS says.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .degrade import (SCALE, DegradationSpec, crop_to_scale, degrade, frame_window, percentile_range)
from .errors import TrainInputError

TIFF_EXT = (".tif", ".tiff")


@dataclass(frozen=True)
class Source:
    """One entry of a config's data lists: a file, folder or glob, optionally a z range of its stacks
    (inclusive, ZYX stacks give one 2D image per z slice), its HR pixel size (nm, for the card's trained
    pixel-size range) and its share of the training tiles (`weight`; sources without one share the rest
    in proportion to their area)."""
    path: str
    z: Optional[Tuple[int, int]] = None
    pixel_size: Optional[float] = None
    weight: Optional[float] = None

    @property
    def name(self) -> str:
        return self.path if self.z is None else f"{self.path} z {self.z[0]}..{self.z[1]}"


SourceLike = Union[str, Source, Dict[str, Any]]


def parse_source(entry: SourceLike, where: str) -> Source:
    """A config data entry (a path string or {"path", "z": [first, last], "pixelSize", "weight"})."""
    if isinstance(entry, Source):
        return entry
    if isinstance(entry, str) and entry:
        return Source(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
        raise TrainInputError(f"config '{where}': each entry must be a path or an object with a 'path' (got {entry!r})")
    unknown = set(entry) - {"path", "z", "pixelSize", "weight"}
    if unknown:
        raise TrainInputError(f"config '{where}' entry {entry['path']}: unknown key(s) {', '.join(sorted(unknown))}; "
                              "allowed: path, z, pixelSize, weight")
    z = entry.get("z")
    if z is not None:
        if (not isinstance(z, list) or len(z) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in z)
                or z[0] < 0 or z[1] < z[0]):
            raise TrainInputError(f"config '{where}' entry {entry['path']}: 'z' must be [first, last] slice indices "
                                  f"with 0 <= first <= last (got {z!r})")
        z = (int(z[0]), int(z[1]))
    for key in ("pixelSize", "weight"):
        v = entry.get(key)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
            raise TrainInputError(f"config '{where}' entry {entry['path']}: '{key}' must be a positive number (got {v!r})")
    return Source(entry["path"], z, None if entry.get("pixelSize") is None else float(entry["pixelSize"]),
                  None if entry.get("weight") is None else float(entry["weight"]))


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
    source: Optional[Source] = None

    @property
    def shape(self) -> Tuple[int, int]:
        return self.frames[0].hr.shape


@dataclass
class DataSplit:
    train: List[Series]
    val: List[Series]
    descriptions: Dict[str, List[str]] = field(default_factory=dict)
    select: List[Series] = field(default_factory=list)  # chooses checkpoints when given (then val only reports)


def _expand(paths: Sequence[str]) -> List[Tuple[str, List[str]]]:
    """Each entry -> (name, files). Globs are expanded; folders list their TIFFs."""
    out = []
    for p in paths:
        p = p.path if isinstance(p, Source) else p
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


def _z_range(path: str, arr: np.ndarray, z: Optional[Tuple[int, int]]) -> np.ndarray:
    if z is None:
        return arr
    if z[1] >= arr.shape[0]:
        raise TrainInputError(f"{path}: z range {z[0]}..{z[1]} is outside the stack, which has slices 0..{arr.shape[0] - 1}")
    return arr[z[0]: z[1] + 1]


def load_series(paths: Sequence[SourceLike], channel: Optional[int], frames: int, min_hr: int) -> List[Tuple[str, np.ndarray, np.dtype]]:
    """Read everything and apply the checks that produce clear one-line messages."""
    return [(n, a, d) for n, a, d, _ in _load_sources(paths, channel, frames, min_hr)]


def _load_sources(paths: Sequence[SourceLike], channel: Optional[int], frames: int,
                  min_hr: int) -> List[Tuple[str, np.ndarray, np.dtype, Source]]:
    result = []
    for src in (parse_source(p, "data") for p in paths):
        result.extend((n, a, d, src) for n, a, d in _load_one(src, channel, frames, min_hr))
    return result


def _load_one(src: Source, channel: Optional[int], frames: int, min_hr: int) -> List[Tuple[str, np.ndarray, np.dtype]]:
    result = []
    for name, files in _expand([src.path]):
        singles: List[Tuple[str, np.ndarray, np.dtype]] = []
        for f in files:
            arr, dt = read_stack(f, channel)
            arr = _z_range(f, arr, src.z)
            if src.z is not None:
                f = f"{f} z {src.z[0]}..{src.z[1]}"
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


def split_data(paths: Sequence[SourceLike], val_paths: Optional[Sequence[SourceLike]], val_fraction: float,
               channel: Optional[int], frames: int, min_hr: int, spec: DegradationSpec, rng: np.random.Generator,
               select_paths: Optional[Sequence[SourceLike]] = None) -> DataSplit:
    """Training series and held-out validation series (and, optionally, a separate selection split).

    With explicit validation data it is used as is. Otherwise the last `val_fraction` of every multi-frame
    series is held out (a later part of a time-lapse), and single images give up a bottom strip. With
    `select_paths` those series choose the checkpoints and the validation series are only measured."""
    loaded = _load_sources(paths, channel, frames, min_hr)
    train: List[Series] = []
    val: List[Series] = []
    desc_train, desc_val = [], []
    select = [Series(n, make_frames(a, d, spec, rng), source=src)
              for n, a, d, src in _load_sources(select_paths or [], channel, frames, 4 * 8)]
    desc = {"select": [_describe(s.name, len(s.frames)) for s in select]} if select else {}
    if val_paths:
        for name, arr, dt, src in _load_sources(val_paths, channel, frames, 4 * 8):
            val.append(Series(name, make_frames(arr, dt, spec, rng), source=src))
            desc_val.append(_describe(name, arr.shape[0]))
        for name, arr, dt, src in loaded:
            train.append(Series(name, make_frames(arr, dt, spec, rng), source=src))
            desc_train.append(_describe(name, arr.shape[0]))
        return DataSplit(train, val, {"train": desc_train, "val": desc_val, **desc}, select)
    for name, arr, dt, src in loaded:
        n = arr.shape[0]
        if val_fraction <= 0:
            train.append(Series(name, make_frames(arr, dt, spec, rng), source=src))
            desc_train.append(_describe(name, n))
            continue
        if n >= 2:
            k = max(1, int(round(n * val_fraction)))
            if n - k < 1:
                k = n - 1
            train.append(Series(name, make_frames(arr[: n - k], dt, spec, rng), f"frames 0..{n - k - 1}", src))
            val.append(Series(name, make_frames(arr[n - k:], dt, spec, rng), f"frames {n - k}..{n - 1}", src))
            desc_train.append(f"{name} frames 0..{n - k - 1}")
            desc_val.append(f"{name} frames {n - k}..{n - 1}")
        else:
            h = arr.shape[1]
            rows = int(round(h * val_fraction / 8)) * 8
            if rows >= 64 and h - rows >= min_hr:
                train.append(Series(name, make_frames(arr[:, : h - rows], dt, spec, rng), f"rows 0..{h - rows - 1}", src))
                val.append(Series(name, make_frames(arr[:, h - rows:], dt, spec, rng), f"rows {h - rows}..{h - 1}", src))
                desc_train.append(f"{name} rows 0..{h - rows - 1}")
                desc_val.append(f"{name} rows {h - rows}..{h - 1}")
            else:
                train.append(Series(name, make_frames(arr, dt, spec, rng), source=src))
                desc_train.append(_describe(name, n))
    return DataSplit(train, val, {"train": desc_train, "val": desc_val, **desc}, select)


def _describe(name: str, n: int) -> str:
    return name if n == 1 else f"{name} ({n} frames)"


def normalise(x: np.ndarray, rng_: Tuple[float, float]) -> np.ndarray:
    lo, hi = rng_
    return ((x - lo) / (hi - lo)).astype(np.float32)


@dataclass(frozen=True)
class Augment:
    """Per-tile augmentations beyond the dihedral group (all off by default).

    gamma_jitter: gamma exp(U(-g, g)) on the frame's percentile scale (intensity response).
    contrast_jitter: c -> the tile's contrast x exp(U(-c, c)) and its level shifted by U(-c/2, c/2) of the
        frame's range, the normalisation range kept: tiles of locally darker/paler/flatter regions.
    scale_range: (lo, hi) with 1 <= lo <= hi: the HR tile is resampled (Lanczos, antialiased) from a window
        s = exp(U(log lo, log hi)) times larger, i.e. the specimen at an s-times coarser pixel size, before
        degradation; with probability 1 - scale_prob the tile keeps the source's pixel size. s is capped per
        frame where the frame is too small for the window.
    noise_sigma: (lo, hi): the recipe's Gaussian sigma (0-255 scale) drawn U(lo, hi) per tile."""
    gamma_jitter: float = 0.0
    contrast_jitter: float = 0.0
    scale_range: Optional[Tuple[float, float]] = None
    scale_prob: float = 1.0
    noise_sigma: Optional[Tuple[float, float]] = None


class TileSampler:
    """Random training tiles with fresh degradation noise every time.

    Tiles are 4-aligned so degrading the tile equals cropping the degraded whole frame; degradation uses
    the whole frame's HR percentiles and normalisation the whole degraded frame's, never the tile's.
    With `any_phase` a tile may start at any HR pixel: each of the 16 sampling phases of the 4x grid is a
    different, equally valid acquisition of the specimen (16x more distinct LR/HR pairs from the same
    images); the tile is then degraded as an image of its own, on its own pixel-centre grid (as are
    tiles resampled by the scale augmentation). Series whose source has a `weight` get that share of the
    tiles; the others share the rest in proportion to their area."""

    def __init__(self, series: List[Series], frames: int, lr_tile: int, spec: DegradationSpec,
                 rng: np.random.Generator, gamma_jitter: float = 0.0, content_tries: int = 8,
                 any_phase: bool = False, augment: Optional[Augment] = None):
        self.series = series
        self.frames = frames
        self.lr_tile = lr_tile
        self.hr_tile = lr_tile * SCALE
        self.spec = spec
        self.rng = rng
        self.aug = augment or Augment(gamma_jitter=gamma_jitter)
        self.content_tries = content_tries
        self.step = 1 if any_phase else SCALE
        items = [(si, fi) for si, s in enumerate(series) for fi in range(len(s.frames))]
        self.items = items
        self.p = _item_weights(series, items)
        self.thresholds = {item: self._content_threshold(*item) for item in items}

    def _content_threshold(self, si: int, fi: int) -> float:
        """Tiles with content: a tile must have at least the 30th percentile of tile contrast in its frame."""
        fr = self.series[si].frames[fi]
        stds = [self._contrast(fr, *self._position(fr)) for _ in range(48)]
        return float(np.percentile(stds, 30))

    def _position(self, fr: Frame, window: Optional[int] = None) -> Tuple[int, int]:
        h, w = fr.hr.shape
        size = window or self.hr_tile
        step = self.step if window is None else 1
        y = int(self.rng.integers(0, (h - size) // step + 1)) * step
        x = int(self.rng.integers(0, (w - size) // step + 1)) * step
        return y, x

    def _contrast(self, fr: Frame, y: int, x: int, window: Optional[int] = None) -> float:
        size = window or self.hr_tile
        stride = max(4, size // self.lr_tile)
        t = fr.hr[y: y + size: stride, x: x + size: stride]
        return float(t.std() / (fr.hr_range[1] - fr.hr_range[0]))

    def _scale(self, fr: Frame) -> float:
        """Window/tile size ratio for this tile (1: the source's own pixel size)."""
        a = self.aug
        if a.scale_range is None or self.rng.random() >= a.scale_prob:
            return 1.0
        lo, hi = a.scale_range
        s = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))
        return min(s, min(fr.hr.shape) / self.hr_tile)

    def sample(self, batch: int) -> Tuple[np.ndarray, np.ndarray]:
        xs = np.empty((batch, self.frames, self.lr_tile, self.lr_tile), np.float32)
        ys = np.empty((batch, 1, self.hr_tile, self.hr_tile), np.float32)
        a = self.aug
        for b in range(batch):
            si, fi = self.items[int(self.rng.choice(len(self.items), p=self.p))]
            s = self.series[si]
            centre = s.frames[fi]
            scale = self._scale(centre)
            window = None if scale == 1.0 else int(np.ceil(self.hr_tile * scale))
            for _ in range(self.content_tries):
                y, x = self._position(centre, window)
                if self._contrast(centre, y, x, window) >= self.thresholds[(si, fi)]:
                    break
            k = int(self.rng.integers(8))  # dihedral group: 4 rotations x optional flip
            gamma = float(np.exp(self.rng.uniform(-a.gamma_jitter, a.gamma_jitter))) if a.gamma_jitter else 1.0
            contrast = ((float(np.exp(self.rng.uniform(-a.contrast_jitter, a.contrast_jitter))),
                         float(self.rng.uniform(-a.contrast_jitter / 2, a.contrast_jitter / 2)))
                        if a.contrast_jitter else None)
            spec = self.spec
            if a.noise_sigma is not None:
                spec = dataclasses.replace(spec, gaussian_sigma=float(self.rng.uniform(*a.noise_sigma)))
            for j, t in enumerate(frame_window(fi, len(s.frames), self.frames)):
                fr = s.frames[t]
                hr = _dihedral(self._hr_tile(fr, y, x, scale), k)
                hr_range, lr_range = fr.hr_range, fr.lr_range
                if gamma != 1.0:
                    hr, hr_range, lr_range = _gamma(hr, fr, gamma)
                if contrast is not None:
                    hr = _contrast_shift(hr, hr_range, *contrast)
                lr = degrade(hr, spec, self.rng, hr_range)
                xs[b, j] = normalise(lr, lr_range)
                if j == self.frames // 2:  # target: the HR centre frame
                    ys[b, 0] = normalise(hr, lr_range)
        return xs, ys

    def _hr_tile(self, fr: Frame, y: int, x: int, scale: float) -> np.ndarray:
        if scale == 1.0:
            return fr.hr[y: y + self.hr_tile, x: x + self.hr_tile]
        return resample(fr.hr[y: y + int(np.ceil(self.hr_tile * scale)), x: x + int(np.ceil(self.hr_tile * scale))],
                        self.hr_tile, self.hr_tile * scale)


def _item_weights(series: List[Series], items: List[Tuple[int, int]]) -> np.ndarray:
    """(series, frame) sampling probabilities: area-proportional, except that series of a weighted source
    share that source's weight (then area-proportional inside it)."""
    area = np.array([series[si].frames[fi].hr.size for si, fi in items], dtype=np.float64)
    weighted = [series[si].source is not None and series[si].source.weight is not None for si, _ in items]
    if not any(weighted):
        return area / area.sum()
    groups: Dict[Any, List[int]] = {}
    for i, (si, _) in enumerate(items):
        key = series[si].source if weighted[i] else None
        groups.setdefault(key, []).append(i)
    explicit = sum(src.weight for src in groups if src is not None)
    rest = max(0.0, 1.0 - explicit) if None in groups else 0.0
    p = np.zeros(len(items))
    total = explicit + rest
    for src, idx in groups.items():
        share = (rest if src is None else src.weight) / total
        p[idx] = share * area[idx] / area[idx].sum()
    return p / p.sum()


def resample(window: np.ndarray, size: int, extent: float) -> np.ndarray:
    """The top-left extent x extent HR pixels of `window` resampled to size x size (Pillow's antialiased
    Lanczos: its kernel widens with the reduction factor, so a coarser pixel size is not aliased)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(window, dtype=np.float32))
    out = img.resize((size, size), resample=Image.LANCZOS, box=(0.0, 0.0, float(extent), float(extent)))
    return np.asarray(out, dtype=np.float32)


def _contrast_shift(hr: np.ndarray, hr_range: Tuple[float, float], gain: float, shift: float) -> np.ndarray:
    lo, hi = hr_range
    mid = (lo + hi) / 2
    return ((hr - mid) * gain + mid + shift * (hi - lo)).astype(np.float32)


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
