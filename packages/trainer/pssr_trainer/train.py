"""The training run: config -> data -> network -> AdamW + one-cycle -> best checkpoint -> ONNX + card."""
from __future__ import annotations

import copy
import math
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .data import TileSampler, split_data
from .degrade import RECIPES, degradation_spec, percentile_range
from .errors import TrainInputError
from .evaluate import build_val_frames, crop_val_tiles, evaluate_frames, predict
from .events import emit, log
from .export import OPSET, atomic_write_json, export_onnx, save_weights, sha256_file, write_export_check
from .losses import make_loss
from .nets import build_network, grow_fast, tile_multiple

BUNDLED_MODELS = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "models"))

DEFAULTS: Dict[str, Any] = {
    "frames": 1, "arch": "fast", "device": "auto", "valFraction": 0.2, "seed": 0, "valSeed": 0,
    "width": 48, "depth": 8, "base": 32, "batch": 16, "tile": 32, "loss": "mse", "lr": None,
    "weightDecay": 1e-4, "gammaJitter": None, "channel": None, "threads": None, "validations": 10,
    "valTiles": 16, "version": "1.0.0", "ema": 0.0,
    "phaseJitter": False,
}


def _bad(msg: str) -> TrainInputError:
    return TrainInputError(msg)


def parse_config(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Validate once, so every later step can trust the values."""
    if not isinstance(raw, dict):
        raise _bad("config must be a JSON object")
    c = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    data = c.get("data")
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list) or not data or not all(isinstance(d, str) and d for d in data):
        raise _bad("config 'data' must list at least one HR image file or folder")
    c["data"] = data
    vd = c.get("valData")
    if isinstance(vd, str):
        vd = [vd]
    c["valData"] = vd or None
    if c.get("modality") not in ("em", "fluo", "fluorescence"):
        raise _bad(f"config 'modality' must be 'em' or 'fluo' (got {c.get('modality')!r})")
    c["modality"] = "fluo" if c["modality"] == "fluorescence" else c["modality"]
    if c["frames"] not in (1, 5):
        raise _bad(f"config 'frames' must be 1 or 5 (got {c['frames']!r})")
    if not isinstance(c.get("out"), str) or not c["out"]:
        raise _bad("config 'out' must name the output folder")
    if c["arch"] not in ("fast", "pssr"):
        raise _bad(f"config 'arch' must be 'fast' or 'pssr' (got {c['arch']!r})")
    if c["device"] not in ("auto", "cpu", "cuda"):
        raise _bad(f"config 'device' must be auto, cpu or cuda (got {c['device']!r})")
    for key in ("minutes", "steps"):
        if key in c and (not isinstance(c[key], (int, float)) or isinstance(c[key], bool) or c[key] <= 0):
            raise _bad(f"config '{key}' must be a positive number (got {c[key]!r})")
    if "minutes" not in c and "steps" not in c:
        c["minutes"] = 30
    if not (0 <= float(c["valFraction"]) < 1):
        raise _bad(f"config 'valFraction' must be in [0, 1) (got {c['valFraction']!r})")
    c["recipe"] = c.get("recipe") or ("em" if c["modality"] == "em" else "fluo")
    if c["recipe"] not in RECIPES:
        raise _bad(f"config 'recipe' must be one of {', '.join(RECIPES)} (got {c['recipe']!r})")
    if c["loss"] not in ("mse", "l1", "ssim"):
        raise _bad(f"config 'loss' must be mse, l1 or ssim (got {c['loss']!r})")
    if int(c["tile"]) % 8 or int(c["tile"]) < 16:
        raise _bad(f"config 'tile' (LR training tile edge) must be a multiple of 8, at least 16 (got {c['tile']!r})")
    if not isinstance(c["ema"], (int, float)) or isinstance(c["ema"], bool) or not (0 <= float(c["ema"]) < 1):
        raise _bad(f"config 'ema' (weight-averaging decay) must be 0 (off) or in (0, 1), e.g. 0.999 (got {c['ema']!r})")
    if not isinstance(c["phaseJitter"], bool):
        raise _bad(f"config 'phaseJitter' must be true or false (got {c['phaseJitter']!r})")
    if c["lr"] is None:
        c["lr"] = 1e-3
    if c["gammaJitter"] is None:
        c["gammaJitter"] = 0.3 if c["modality"] == "fluo" else 0.0
    if c["channel"] is not None and (not isinstance(c["channel"], int) or c["channel"] < 0):
        raise _bad(f"config 'channel' must be a channel index >= 0 (got {c['channel']!r})")
    return c


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise _bad("device 'cuda' was asked for but PyTorch sees no CUDA GPU here; use 'auto' or 'cpu'")
    if name in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_init(init: str) -> str:
    """A model folder, or the name of a bundled model (packages/models/<name>)."""
    cand = [init, os.path.join(BUNDLED_MODELS, init)]
    for d in cand:
        if os.path.isdir(d):
            w = os.path.join(d, "weights.pt")
            if not os.path.isfile(w):
                raise _bad(f"{d}: no weights.pt beside model.onnx; fine-tuning (init) needs the PyTorch weights "
                           "the trainer stores in its output folder")
            return w
    raise _bad(f"init {init!r}: no such model folder or bundled model")


def one_cycle(p: float, lr_max: float, pct_start: float = 0.25, div: float = 25.0, final_div: float = 1e4) -> float:
    """fastai's one-cycle (PSSR trained with fit_one_cycle): cosine warm-up, then cosine annealing."""
    p = min(max(p, 0.0), 1.0)
    if p < pct_start:
        a, b, q = lr_max / div, lr_max, p / pct_start
    else:
        a, b, q = lr_max, lr_max / final_div, (p - pct_start) / (1 - pct_start)
    return b + (a - b) * (1 + math.cos(math.pi * q)) / 2


def run(raw: Dict[str, Any], command: Optional[str] = None) -> Dict[str, Any]:
    t_start = time.time()
    c = parse_config(raw)
    if c["threads"]:
        torch.set_num_threads(int(c["threads"]))
    device = pick_device(c["device"])
    torch.manual_seed(int(c["seed"]))
    rng = np.random.default_rng(int(c["seed"]))
    spec = degradation_spec(c["recipe"], float(c.get("poissonPeak") or 30.0))
    frames = int(c["frames"])
    lr_tile = int(c["tile"])

    init_ckpt = None
    arch_kw = {"width": int(c["width"]), "depth": int(c["depth"]), "base": int(c["base"])}
    if c.get("init"):
        init_ckpt = torch.load(resolve_init(str(c["init"])), map_location="cpu")
        a = init_ckpt["architecture"]
        if a["name"] != c["arch"] and "arch" in raw:
            raise _bad(f"init model is arch {a['name']!r} but config asks for {c['arch']!r}")
        c["arch"] = a["name"]
        if int(init_ckpt["frames"]) != frames:
            raise _bad(f"init model takes {init_ckpt['frames']} input frame(s) but config 'frames' is {frames}")
        init_kw = {"width": int(a.get("width", 48)), "depth": int(a.get("depth", 8)), "base": int(a.get("base", 32))}
        arch_kw = dict(init_kw)
        if c["arch"] == "fast":
            # An explicit larger width/depth grows the init network (function-preserving), else keep its size.
            for k in ("width", "depth"):
                if k in raw and raw[k] is not None:
                    if int(raw[k]) < init_kw[k]:
                        raise _bad(f"config '{k}' {raw[k]} is smaller than the init model's {init_kw[k]}; "
                                   f"fine-tuning can keep or grow a network, not shrink it")
                    arch_kw[k] = int(raw[k])

    emit("start", config={k: v for k, v in c.items()}, device=device.type, torch=torch.__version__, trainer=__version__)
    split = split_data(c["data"], c["valData"], float(c["valFraction"]), c["channel"], frames, lr_tile * 4, spec, rng)
    n_train = sum(len(s.frames) for s in split.train)
    log(f"data: {n_train} training frame(s) from {len(split.train)} series; "
        f"{sum(len(s.frames) for s in split.val)} validation frame(s)")

    model = build_network(c["arch"], frames, **arch_kw).to(device)
    grown_from = None
    if init_ckpt is not None:
        if arch_kw == init_kw:
            model.load_state_dict(init_ckpt["state_dict"])
        else:
            grow_fast(model, init_ckpt["state_dict"])
            grown_from = {"width": init_kw["width"], "depth": init_kw["depth"]}
            log(f"grew the init network from width {init_kw['width']} depth {init_kw['depth']} to width "
                f"{arch_kw['width']} depth {arch_kw['depth']} (same function at the start)")
    desc = model.describe()
    multiple = tile_multiple(c["arch"])
    halo = int(math.ceil(desc["receptiveFieldLR"] / multiple) * multiple)
    tile_size = 128 if halo <= 16 else (192 if halo <= 32 else 4 * halo)

    sampler = TileSampler(split.train, frames, lr_tile, spec, rng, gamma_jitter=float(c["gammaJitter"]),
                          any_phase=bool(c["phaseJitter"]))
    vf = build_val_frames(split.val, spec, frames, int(c["valSeed"])) if split.val else []
    val_x = val_y = val_dr = None
    if vf:
        vt = min(64, max(16, (min(min(v.lr_window.shape[1:]) for v in vf) // 8) * 8))
        val_x, val_y, val_dr = crop_val_tiles(vf, vt, int(c["valTiles"]), int(c["valSeed"]))

    loss_fn = make_loss(c["loss"])
    opt = torch.optim.AdamW(model.parameters(), lr=float(c["lr"]), betas=(0.9, 0.99), weight_decay=float(c["weightDecay"]))
    use_amp = device.type == "cuda"  # mixed precision only on GPUs
    scaler = torch.cuda.amp.GradScaler(enabled=use_amp)

    budget_s = float(c["minutes"]) * 60.0 if "minutes" in c else None
    max_steps = int(c["steps"]) if "steps" in c else None
    n_val = max(1, int(c["validations"]))
    next_val = 1
    best = {"loss": float("inf"), "state": copy.deepcopy(model.state_dict()), "step": 0}
    history: List[Dict[str, Any]] = []
    train_s = 0.0
    step = 0
    last_progress = 0.0
    ema = None

    def progress_fraction() -> float:
        ps = []
        if budget_s:
            ps.append(train_s / budget_s)
        if max_steps:
            ps.append(step / max_steps)
        return max(ps)

    # Optional exponential moving average of the weights (Polyak averaging): validated, kept and exported
    # instead of the raw weights; it smooths the last steps' noise at no inference cost.
    ema_decay = float(c["ema"])
    averaged = copy.deepcopy(model) if ema_decay > 0 else None

    def update_average() -> None:
        d = min(ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for a, m in zip(averaged.parameters(), model.parameters()):
                a.mul_(d).add_(m.detach(), alpha=1.0 - d)
            for a, m in zip(averaged.buffers(), model.buffers()):
                a.copy_(m)

    def validate() -> None:
        net = averaged if averaged is not None else model
        if val_x is None:
            best.update(state=copy.deepcopy(net.state_dict()), step=step)
            return
        pred = predict(net, val_x, device, 8)
        vl = float(loss_fn(torch.from_numpy(pred), torch.from_numpy(val_y)).item())
        mse = ((pred - val_y) ** 2).reshape(len(pred), -1).mean(axis=1)
        crop_psnr = float(np.mean(10 * np.log10(val_dr ** 2 / np.maximum(mse, 1e-20))))
        improved = vl < best["loss"]
        if improved:
            best.update(loss=vl, state=copy.deepcopy(net.state_dict()), step=step)
        ev = {"step": step, "loss": vl, "psnr": crop_psnr, "best": improved, "tiles": int(len(val_x))}
        history.append(ev)
        emit("validation", **ev)
        log(f"validation step {step}: loss {vl:.5f} crop PSNR {crop_psnr:.3f} dB{' (best)' if improved else ''}")
        model.train()

    model.train()
    while True:
        p = progress_fraction()
        if p >= 1.0:
            break
        t0 = time.time()
        lr_now = one_cycle(p, float(c["lr"]))
        for g in opt.param_groups:
            g["lr"] = lr_now
        xs, ys = sampler.sample(int(c["batch"]))
        x = torch.from_numpy(xs).to(device)
        y = torch.from_numpy(ys).to(device)
        with torch.autocast(device_type="cuda", enabled=use_amp) if use_amp else _null():
            out = model(x)
        loss = loss_fn(out.float(), y)
        if not torch.isfinite(loss):
            raise RuntimeError(f"training diverged at step {step} (loss {loss.item()}); try a lower 'lr'")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        step += 1
        if averaged is not None:
            update_average()
        train_s += time.time() - t0
        lv = float(loss.item())
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        p = progress_fraction()
        now = time.time()
        if now - last_progress >= 2.0 or step == 1 or p >= 1.0:
            last_progress = now
            eta = train_s / p - train_s if p > 0 else None
            emit("progress", step=step, steps=int(round(step / p)) if p > 0 else None, loss=lv, lossAvg=ema,
                 lr=lr_now, elapsed=round(now - t_start, 2), eta=round(eta, 1) if eta is not None else None)
        while p >= next_val / n_val and next_val <= n_val:
            next_val += 1
            validate()
    if step == 0 or not history:
        validate()
    model.load_state_dict(best["state"])
    log(f"training done: {step} steps, {train_s:.0f} s; best validation at step {best['step']}")

    metrics = evaluate_frames(model, vf, device) if vf else None
    if metrics:
        emit("validation", step=best["step"], final=True, psnr=metrics["psnr"]["model"], ssim=metrics["ssim"]["model"],
             bilinearPsnr=metrics["psnr"]["bilinear"], bicubicPsnr=metrics["psnr"]["bicubic"],
             bilinearSsim=metrics["ssim"]["bilinear"], bicubicSsim=metrics["ssim"]["bicubic"])

    out = c["out"]
    os.makedirs(out, exist_ok=True)
    model = model.cpu().eval()
    onnx_path = os.path.join(out, "model.onnx")
    export_onnx(model, frames, onnx_path)
    check_x = _check_input(vf, frames, val_x)
    write_export_check(model, check_x, os.path.join(out, "export-check.json"))
    save_weights(model, desc, frames, os.path.join(out, "weights.pt"))

    card = {
        "name": c.get("name") or os.path.basename(os.path.normpath(out)),
        "version": str(c["version"]),
        "sha256": sha256_file(onnx_path),
        "modality": "em" if c["modality"] == "em" else "fluorescence",
        "scale": 4,
        "inputFrames": frames,
        "inputPixelSize": c.get("pixelSize"),
        "tile": {"size": tile_size, "halo": halo, "multiple": multiple},
        "normalization": {"mode": "percentile", "low": 0.1, "high": 99.9},
        "degradation": spec.to_card(),
        "architecture": desc,
        "training": {
            "data": c.get("dataLabel") or split.descriptions["train"],
            "provenance": c.get("provenance") or "HR images given to the trainer; LR inputs made by degradation",
            "licence": c.get("licence") or "as the training data",
            "steps": step,
            "seconds": round(time.time() - t_start, 1),
            "trainSeconds": round(train_s, 1),
            "bestStep": best["step"],
            "device": _device_name(device),
            "seed": int(c["seed"]),
            "command": command or c.get("command") or "python3 -m pssr_trainer train --config CONFIG.json",
            "loss": c["loss"], "optimizer": "AdamW + one-cycle", "lrMax": float(c["lr"]), "batch": int(c["batch"]),
            "tileLR": lr_tile, "augmentation": "dihedral (8)" + (f", gamma jitter exp(+-{c['gammaJitter']})" if c["gammaJitter"] else "")
                            + (", any 4x sampling phase (16)" if c["phaseJitter"] else ""),
            "initFrom": c.get("init"),
            "grownFrom": grown_from,
            "weightAverage": {"kind": "ema", "decay": ema_decay} if ema_decay > 0 else None,
            "torch": torch.__version__,
            "validationHistory": history,
        },
        "validation": None if not metrics else {
            "data": c.get("valLabel") or "; ".join(split.descriptions["val"]),
            "psnr": metrics["psnr"], "ssim": metrics["ssim"], "frames": metrics["frames"],
            "perSeries": metrics["perSeries"], "valSeed": int(c["valSeed"]),
            "method": "fixed degradation (valSeed) of whole held-out frames; outputs rounded/clipped to the HR dtype; "
                      "PSNR/SSIM per CONTRACTS (data_range = HR frame max - min), mean over frames",
        },
        "export": {"opset": OPSET, "maxAbsDiff": None, "checkedWith": None},
        "execution": {"precision": "fp32", "notes": c.get("notes") or _exec_notes(c["arch"], desc)},
    }
    atomic_write_json(card, os.path.join(out, "model.json"))
    emit("done", out=os.path.abspath(out), card=card)
    return card


def _check_input(vf, frames: int, val_x) -> np.ndarray:
    """Two real validation crops (40x48 LR: exercises dynamic batch and a non-square size), else noise."""
    if val_x is not None and val_x.shape[2] >= 40 and val_x.shape[3] >= 48:
        return np.ascontiguousarray(val_x[:2, :, :40, :48])
    return np.random.default_rng(0).random((2, frames, 40, 48), dtype=np.float32)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def _exec_notes(arch: str, desc: dict) -> str:
    if arch == "fast":
        return ("input-resolution residual network with a PixelShuffle x4 head and a bilinear pixel-centre skip; "
                f"LR receptive radius {desc['receptiveFieldLR']} px")
    return "published PSSR design (ResNet34-style U-Net at output size on a bilinear-upsampled input)"


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
