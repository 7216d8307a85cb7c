"""Validation: fixed degraded LR frames, the model vs bilinear vs bicubic, metrics per CONTRACTS."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import torch

from .data import Series, normalise
from .degrade import (DegradationSpec, degrade, frame_window, percentile_range, to_dtype, upsample_bicubic4,
                      upsample_bilinear4)
from .metrics import data_range, psnr, ssim


@dataclass
class ValFrame:
    series: str
    t: int
    hr: np.ndarray                    # float32 HR reference (cropped to multiples of 4)
    dtype: np.dtype
    lr_window: np.ndarray             # [F, h, w] normalised model input
    lr_range: Tuple[float, float]     # centre frame's lo/hi (output mapping)
    lr_centre: np.ndarray             # un-normalised centre LR frame (for the baselines)


def degraded_series(s: Series, spec: DegradationSpec, val_seed: int) -> List[np.ndarray]:
    """One fixed degradation per held-out series: the same LR for every model and every run."""
    rng = np.random.default_rng([val_seed, zlib.crc32((s.name + "|" + s.label).encode())])
    return [degrade(fr.hr, spec, rng, fr.hr_range) for fr in s.frames]


def build_val_frames(val: List[Series], spec: DegradationSpec, frames: int, val_seed: int) -> List[ValFrame]:
    out = []
    for s in val:
        lrs = degraded_series(s, spec, val_seed)
        ranges = [percentile_range(lr) for lr in lrs]  # per input frame, whole LR frame (CONTRACTS)
        for t, fr in enumerate(s.frames):
            win = frame_window(t, len(s.frames), frames)
            x = np.stack([normalise(lrs[k], ranges[k]) for k in win])
            out.append(ValFrame(s.name + (f" [{s.label}]" if s.label else ""), t, fr.hr, fr.dtype, x, ranges[t], lrs[t]))
    return out


def crop_val_tiles(vf: List[ValFrame], lr_tile: int, count: int, seed: int,
                   per_series: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed LR crops (with content) of the validation frames, for cheap checks during training.

    per_series: an equal share of the crops from every series (sources of very different sizes then weigh
    the same in the checkpoint choice)."""
    if per_series:
        groups: Dict[str, List[ValFrame]] = {}
        for v in vf:
            groups.setdefault(v.series, []).append(v)
        if len(groups) > 1:
            share = max(1, count // len(groups))
            parts = [crop_val_tiles(g, lr_tile, share, seed) for g in groups.values()]
            return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
    rng = np.random.default_rng(seed)
    xs, ys, ranges = [], [], []
    per = max(1, int(np.ceil(count / max(len(vf), 1))))
    for v in vf:
        f, h, w = v.lr_window.shape
        if h < lr_tile or w < lr_tile:
            continue
        cands = []
        for _ in range(6 * per):
            y = int(rng.integers(0, h - lr_tile + 1)) // 8 * 8
            x = int(rng.integers(0, w - lr_tile + 1)) // 8 * 8
            c = v.lr_window[f // 2, y:y + lr_tile, x:x + lr_tile]
            cands.append((float(c.std()), y, x))
        cands.sort(reverse=True)
        for _, y, x in cands[: 2 * per: 2]:  # contrasty, but not only the single most contrasty spot
            xs.append(v.lr_window[:, y:y + lr_tile, x:x + lr_tile])
            lo, hi = v.lr_range
            ys.append((v.hr[4 * y:4 * (y + lr_tile), 4 * x:4 * (x + lr_tile)] - lo) / (hi - lo))
            ranges.append(data_range(v.hr) / (hi - lo))
        if len(xs) >= count:
            break
    return (np.stack(xs[:count]).astype(np.float32), np.stack(ys[:count])[:, None].astype(np.float32),
            np.array(ranges[:count]))


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, device: torch.device, batch: int = 4) -> np.ndarray:
    model.eval()
    outs = []
    for i in range(0, x.shape[0], batch):
        outs.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).to(device)).float().cpu().numpy())
    return np.concatenate(outs)


def evaluate_frames(model: torch.nn.Module, vf: List[ValFrame], device: torch.device) -> Dict:
    """Whole validation frames through the model; outputs mapped back and rounded as the engine writes them."""
    per: Dict[str, Dict[str, List[float]]] = {}
    allm = {k: [] for k in ("psnrModel", "psnrBilinear", "psnrBicubic", "ssimModel", "ssimBilinear", "ssimBicubic")}
    for v in vf:
        y = predict(model, v.lr_window[None], device, 1)[0, 0].astype(np.float64)
        lo, hi = v.lr_range
        pred = to_dtype(y * (hi - lo) + lo, v.dtype)
        bil = to_dtype(upsample_bilinear4(v.lr_centre), v.dtype)
        bic = to_dtype(upsample_bicubic4(v.lr_centre), v.dtype)
        dr = data_range(v.hr)
        vals = {"psnrModel": psnr(v.hr, pred, dr), "psnrBilinear": psnr(v.hr, bil, dr), "psnrBicubic": psnr(v.hr, bic, dr),
                "ssimModel": ssim(v.hr, pred, dr), "ssimBilinear": ssim(v.hr, bil, dr), "ssimBicubic": ssim(v.hr, bic, dr)}
        d = per.setdefault(v.series, {k: [] for k in allm})
        for k, val in vals.items():
            d[k].append(val)
            allm[k].append(val)
    mean = {k: float(np.mean(v)) for k, v in allm.items()}
    return {
        "frames": len(vf),
        "psnr": {"model": mean["psnrModel"], "bilinear": mean["psnrBilinear"], "bicubic": mean["psnrBicubic"]},
        "ssim": {"model": mean["ssimModel"], "bilinear": mean["ssimBilinear"], "bicubic": mean["ssimBicubic"]},
        "perSeries": {name: {"frames": len(d["psnrModel"]),
                             "psnr": {"model": float(np.mean(d["psnrModel"])), "bilinear": float(np.mean(d["psnrBilinear"])),
                                      "bicubic": float(np.mean(d["psnrBicubic"]))},
                             "ssim": {"model": float(np.mean(d["ssimModel"])), "bilinear": float(np.mean(d["ssimBilinear"])),
                                      "bicubic": float(np.mean(d["ssimBicubic"]))}}
                      for name, d in per.items()},
    }
