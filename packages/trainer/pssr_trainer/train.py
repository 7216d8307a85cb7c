"""The training run: config -> data -> network -> AdamW + one-cycle -> best checkpoint -> ONNX + card."""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .data import Augment, TileSampler, parse_source, split_data
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
    "phaseJitter": False, "contrastJitter": 0.0, "scaleRange": None, "scaleProb": 1.0, "noiseSigma": None,
}


def _bad(msg: str) -> TrainInputError:
    return TrainInputError(msg)


def parse_config(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Validate once, so every later step can trust the values."""
    if not isinstance(raw, dict):
        raise _bad("config must be a JSON object")
    c = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    data = c.get("data")
    if isinstance(data, (str, dict)):
        data = [data]
    if not isinstance(data, list) or not data:
        raise _bad("config 'data' must list at least one HR image file or folder")
    c["data"] = [parse_source(d, "data") for d in data]
    for key in ("valData", "selectData"):
        vd = c.get(key)
        if isinstance(vd, (str, dict)):
            vd = [vd]
        if vd is not None and not isinstance(vd, list):
            raise _bad(f"config '{key}' must list HR image files or folders")
        c[key] = [parse_source(d, key) for d in vd] if vd else None
    if c["selectData"] and not c["valData"]:
        raise _bad("config 'selectData' (chooses checkpoints) needs 'valData' (the held-out data it reports on)")
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
    _check_augmentation(c)
    if c["lr"] is None:
        c["lr"] = 1e-3
    if c["gammaJitter"] is None:
        c["gammaJitter"] = 0.3 if c["modality"] == "fluo" else 0.0
    if c["channel"] is not None and (not isinstance(c["channel"], int) or c["channel"] < 0):
        raise _bad(f"config 'channel' must be a channel index >= 0 (got {c['channel']!r})")
    return c


def _pair(c: Dict[str, Any], key: str, low: float, what: str) -> None:
    v = c[key]
    if v is None:
        return
    if (not isinstance(v, list) or len(v) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v)
            or not (low <= v[0] <= v[1])):
        raise _bad(f"config '{key}' must be [low, high] with {low} <= low <= high ({what}; got {v!r})")
    c[key] = (float(v[0]), float(v[1]))


def _check_augmentation(c: Dict[str, Any]) -> None:
    _pair(c, "scaleRange", 1.0, "HR resampled to 1x..high x the source pixel size before degradation, e.g. [1, 2]")
    _pair(c, "noiseSigma", 0.0, "Gaussian noise sigma on the 0-255 scale drawn per tile, e.g. [2, 4]")
    for key, hi in (("contrastJitter", 1.0), ("scaleProb", 1.0)):
        v = c[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not (0 <= v <= hi):
            raise _bad(f"config '{key}' must be a number in [0, {hi}] (got {v!r})")


def trained_pixel_range(c: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """LR input pixel sizes (nm) the training covered: each source's HR pixel size x the scale range x 4."""
    sizes = [s.pixel_size for s in c["data"] if s.pixel_size]
    if not sizes:
        return None
    hi = c["scaleRange"][1] if c["scaleRange"] else 1.0
    return {"min": round(min(sizes) * 4, 3), "max": round(max(sizes) * hi * 4, 3), "unit": "nm"}


def augmentation_of(c: Dict[str, Any]) -> Augment:
    return Augment(gamma_jitter=float(c["gammaJitter"]), contrast_jitter=float(c["contrastJitter"]),
                   scale_range=c["scaleRange"], scale_prob=float(c["scaleProb"]), noise_sigma=c["noiseSigma"])


def config_json(c: Dict[str, Any]) -> Dict[str, Any]:
    """The validated config as JSON values (data entries back in their config form)."""
    def entry(s):
        d = {"path": s.path, "z": list(s.z) if s.z else None, "pixelSize": s.pixel_size, "weight": s.weight}
        return s.path if all(v is None for k, v in d.items() if k != "path") else {k: v for k, v in d.items() if v is not None}

    out = dict(c)
    for key in ("data", "valData", "selectData"):
        if out.get(key):
            out[key] = [entry(s) for s in out[key]]
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def augmentation_text(c: Dict[str, Any]) -> str:
    parts = ["dihedral (8)"]
    if c["gammaJitter"]:
        parts.append(f"gamma jitter exp(+-{c['gammaJitter']})")
    if c["contrastJitter"]:
        parts.append(f"contrast x exp(+-{c['contrastJitter']}), level +-{c['contrastJitter'] / 2} of the range")
    if c["phaseJitter"]:
        parts.append("any 4x sampling phase (16)")
    if c["scaleRange"]:
        lo, hi = c["scaleRange"]
        parts.append(f"HR resampled to {lo:g}-{hi:g}x the source pixel size (Lanczos) on {c['scaleProb']:.0%} of tiles")
    if c["noiseSigma"]:
        parts.append(f"noise sigma U({c['noiseSigma'][0]:g}, {c['noiseSigma'][1]:g})")
    return ", ".join(parts)


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


@dataclass
class Setup:
    """What the steps of a run share: the validated config and the objects built from it."""
    c: Dict[str, Any]
    raw: Dict[str, Any]
    device: torch.device
    rng: np.random.Generator
    spec: Any
    frames: int
    lr_tile: int
    t_start: float


@dataclass
class Network:
    model: torch.nn.Module
    desc: Dict[str, Any]
    grown_from: Optional[Dict[str, int]]
    halo: int
    tile_size: int
    multiple: int


@dataclass
class Data:
    split: Any
    report: List[Any]               # whole held-out frames the final metrics are measured on
    crops: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]  # fixed crops that choose checkpoints


@dataclass
class Trained:
    best: Dict[str, Any]
    history: List[Dict[str, Any]]
    steps: int
    train_s: float
    stopped_early: bool = False


def run(raw: Dict[str, Any], command: Optional[str] = None) -> Dict[str, Any]:
    """config -> data -> network -> training loop -> metrics on held-out frames -> ONNX, weights, card."""
    st = prepare(raw)
    init = load_init(st)
    emit("start", config=config_json(st.c), device=st.device.type, torch=torch.__version__, trainer=__version__)
    data = load_data(st)
    net = build_model(st, init)
    trained = train_loop(st, net, data)
    net.model.load_state_dict(trained.best["state"])
    log(f"training done: {trained.steps} steps, {trained.train_s:.0f} s; best validation at step {trained.best['step']}"
        + (" (stopped early on request)" if trained.stopped_early else ""))
    metrics = final_metrics(st, net, data, trained)
    return write_outputs(st, net, data, trained, metrics, command)


def prepare(raw: Dict[str, Any]) -> Setup:
    c = parse_config(raw)
    if c["threads"]:
        torch.set_num_threads(int(c["threads"]))
    torch.manual_seed(int(c["seed"]))
    spec = degradation_spec(c["recipe"], float(c.get("poissonPeak") or 30.0))
    return Setup(c, raw, pick_device(c["device"]), np.random.default_rng(int(c["seed"])), spec, int(c["frames"]),
                 int(c["tile"]), time.time())


def load_init(st: Setup) -> Optional[Tuple[Dict[str, Any], Dict[str, int], Dict[str, int]]]:
    """The init checkpoint and the network size to build: the init's, or a larger one to grow it to."""
    c, raw = st.c, st.raw
    if not c.get("init"):
        return None
    ckpt = torch.load(resolve_init(str(c["init"])), map_location="cpu")
    a = ckpt["architecture"]
    if a["name"] != c["arch"] and "arch" in raw:
        raise _bad(f"init model is arch {a['name']!r} but config asks for {c['arch']!r}")
    c["arch"] = a["name"]
    if int(ckpt["frames"]) != st.frames:
        raise _bad(f"init model takes {ckpt['frames']} input frame(s) but config 'frames' is {st.frames}")
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
    return ckpt, arch_kw, init_kw


def load_data(st: Setup) -> Data:
    c = st.c
    split = split_data(c["data"], c["valData"], float(c["valFraction"]), c["channel"], st.frames, st.lr_tile * 4,
                       st.spec, st.rng, select_paths=c["selectData"])
    log(f"data: {sum(len(s.frames) for s in split.train)} training frame(s) from {len(split.train)} series; "
        f"{sum(len(s.frames) for s in split.val)} validation frame(s)"
        + (f"; {sum(len(s.frames) for s in split.select)} selection frame(s)" if split.select else ""))
    report = build_val_frames(split.val, st.spec, st.frames, int(c["valSeed"])) if split.val else []
    chooser = build_val_frames(split.select, st.spec, st.frames, int(c["valSeed"])) if split.select else report
    crops = None
    if chooser:
        vt = min(64, max(16, (min(min(v.lr_window.shape[1:]) for v in chooser) // 8) * 8))
        crops = crop_val_tiles(chooser, vt, int(c["valTiles"]), int(c["valSeed"]), per_series=bool(split.select))
    return Data(split, report, crops)


def build_model(st: Setup, init) -> Network:
    c = st.c
    arch_kw = {"width": int(c["width"]), "depth": int(c["depth"]), "base": int(c["base"])}
    if init is not None:
        arch_kw = init[1]
    model = build_network(c["arch"], st.frames, **arch_kw).to(st.device)
    grown_from = None
    if init is not None:
        ckpt, _, init_kw = init
        if arch_kw == init_kw:
            model.load_state_dict(ckpt["state_dict"])
        else:
            grow_fast(model, ckpt["state_dict"])
            grown_from = {"width": init_kw["width"], "depth": init_kw["depth"]}
            log(f"grew the init network from width {init_kw['width']} depth {init_kw['depth']} to width "
                f"{arch_kw['width']} depth {arch_kw['depth']} (same function at the start)")
    desc = model.describe()
    multiple = tile_multiple(c["arch"])
    halo = int(math.ceil(desc["receptiveFieldLR"] / multiple) * multiple)
    tile_size = 128 if halo <= 16 else (192 if halo <= 32 else 4 * halo)
    return Network(model, desc, grown_from, halo, tile_size, multiple)


class _StopFlag:
    """SIGUSR1 ends the loop after the current step; the best checkpoint so far is then exported as usual.
    (SIGTERM keeps its meaning: cancel, nothing exported; that is how the TypeScript client aborts a run.)"""

    def __init__(self) -> None:
        self.set = False
        self._old = None

    def __enter__(self):
        import signal

        try:
            self._old = signal.signal(signal.SIGUSR1, self._handle)
        except ValueError:  # not the main thread (tests calling run in a thread): no signal handling
            self._old = None
        return self

    def _handle(self, *_a) -> None:
        self.set = True

    def __exit__(self, *a):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGUSR1, self._old)
        return False


def train_loop(st: Setup, net: Network, data: Data) -> Trained:
    c, device, model = st.c, st.device, net.model
    sampler = TileSampler(data.split.train, st.frames, st.lr_tile, st.spec, st.rng,
                          any_phase=bool(c["phaseJitter"]), augment=augmentation_of(c))
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
    loss_avg = None
    checkpoint = os.path.join(c["out"], "best-weights.pt")

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
        net_now = averaged if averaged is not None else model
        if data.crops is None:
            best.update(state=copy.deepcopy(net_now.state_dict()), step=step)
            return
        val_x, val_y, val_dr = data.crops
        pred = predict(net_now, val_x, device, 8)
        vl = float(loss_fn(torch.from_numpy(pred), torch.from_numpy(val_y)).item())
        mse = ((pred - val_y) ** 2).reshape(len(pred), -1).mean(axis=1)
        crop_psnr = float(np.mean(10 * np.log10(val_dr ** 2 / np.maximum(mse, 1e-20))))
        improved = vl < best["loss"]
        if improved:
            best.update(loss=vl, state=copy.deepcopy(net_now.state_dict()), step=step)
            # on disk too, so a run that is killed still leaves its best weights (for `init` or export)
            os.makedirs(c["out"], exist_ok=True)
            save_weights(net_now, net.desc, st.frames, checkpoint + ".partial")
            os.replace(checkpoint + ".partial", checkpoint)
        ev = {"step": step, "loss": vl, "psnr": crop_psnr, "best": improved, "tiles": int(len(val_x))}
        history.append(ev)
        emit("validation", **ev)
        log(f"validation step {step}: loss {vl:.5f} crop PSNR {crop_psnr:.3f} dB{' (best)' if improved else ''}")
        model.train()

    model.train()
    with _StopFlag() as stop:
        while not stop.set:
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
            loss_avg = lv if loss_avg is None else 0.95 * loss_avg + 0.05 * lv
            p = progress_fraction()
            now = time.time()
            if now - last_progress >= 2.0 or step == 1 or p >= 1.0:
                last_progress = now
                eta = train_s / p - train_s if p > 0 else None
                emit("progress", step=step, steps=int(round(step / p)) if p > 0 else None, loss=lv, lossAvg=loss_avg,
                     lr=lr_now, elapsed=round(now - st.t_start, 2), eta=round(eta, 1) if eta is not None else None)
            while p >= next_val / n_val and next_val <= n_val:
                next_val += 1
                validate()
        stopped = stop.set
    if step == 0 or not history or stopped:
        validate()
    return Trained(best, history, step, train_s, stopped)


def final_metrics(st: Setup, net: Network, data: Data, trained: Trained) -> Optional[Dict[str, Any]]:
    metrics = evaluate_frames(net.model, data.report, st.device) if data.report else None
    if metrics:
        emit("validation", step=trained.best["step"], final=True, psnr=metrics["psnr"]["model"], ssim=metrics["ssim"]["model"],
             bilinearPsnr=metrics["psnr"]["bilinear"], bicubicPsnr=metrics["psnr"]["bicubic"],
             bilinearSsim=metrics["ssim"]["bilinear"], bicubicSsim=metrics["ssim"]["bicubic"])
    return metrics


def write_outputs(st: Setup, net: Network, data: Data, trained: Trained, metrics, command: Optional[str]) -> Dict[str, Any]:
    """ONNX, export check, PyTorch weights and the card (written last, atomically)."""
    c, frames = st.c, st.frames
    out = c["out"]
    os.makedirs(out, exist_ok=True)
    model = net.model.cpu().eval()
    onnx_path = os.path.join(out, "model.onnx")
    export_onnx(model, frames, onnx_path)
    check_x = _check_input(frames, data.crops[0] if data.crops else None)
    write_export_check(model, check_x, os.path.join(out, "export-check.json"))
    save_weights(model, net.desc, frames, os.path.join(out, "weights.pt"))
    card = card_of(st, net, data, trained, metrics, command, onnx_path)
    atomic_write_json(card, os.path.join(out, "model.json"))
    emit("done", out=os.path.abspath(out), card=card)
    return card


def card_of(st: Setup, net: Network, data: Data, trained: Trained, metrics, command: Optional[str], onnx_path: str) -> Dict[str, Any]:
    c, split = st.c, data.split
    ema_decay = float(c["ema"])
    pixel_range = trained_pixel_range(c)
    card = {
        "name": c.get("name") or os.path.basename(os.path.normpath(c["out"])),
        "version": str(c["version"]),
        "sha256": sha256_file(onnx_path),
        "modality": "em" if c["modality"] == "em" else "fluorescence",
        "scale": 4,
        "inputFrames": st.frames,
        "inputPixelSize": c.get("pixelSize"),
        **({"inputPixelSizeRange": pixel_range} if pixel_range else {}),
        "tile": {"size": net.tile_size, "halo": net.halo, "multiple": net.multiple},
        "normalization": {"mode": "percentile", "low": 0.1, "high": 99.9},
        "degradation": st.spec.to_card(),
        "architecture": net.desc,
        "training": {
            "data": c.get("dataLabel") or split.descriptions["train"],
            "provenance": c.get("provenance") or "HR images given to the trainer; LR inputs made by degradation",
            "licence": c.get("licence") or "as the training data",
            "selection": (c.get("selectLabel") or "; ".join(split.descriptions["select"])) if split.select else None,
            "steps": trained.steps,
            "seconds": round(time.time() - st.t_start, 1),
            "trainSeconds": round(trained.train_s, 1),
            "bestStep": trained.best["step"],
            "stoppedEarly": trained.stopped_early,
            "device": _device_name(st.device),
            "seed": int(c["seed"]),
            "command": command or c.get("command") or "python3 -m pssr_trainer train --config CONFIG.json",
            "loss": c["loss"], "optimizer": "AdamW + one-cycle", "lrMax": float(c["lr"]), "batch": int(c["batch"]),
            "tileLR": st.lr_tile, "augmentation": augmentation_text(c),
            "initFrom": c.get("init"),
            "grownFrom": net.grown_from,
            "weightAverage": {"kind": "ema", "decay": ema_decay} if ema_decay > 0 else None,
            "torch": torch.__version__,
            "validationHistory": trained.history,
        },
        "validation": None if not metrics else {
            "data": c.get("valLabel") or "; ".join(split.descriptions["val"]),
            "psnr": metrics["psnr"], "ssim": metrics["ssim"], "frames": metrics["frames"],
            "perSeries": metrics["perSeries"], "valSeed": int(c["valSeed"]),
            "method": "fixed degradation (valSeed) of whole held-out frames; outputs rounded/clipped to the HR dtype; "
                      "PSNR/SSIM per CONTRACTS (data_range = HR frame max - min), mean over frames",
        },
        "export": {"opset": OPSET, "maxAbsDiff": None, "checkedWith": None},
        "execution": {"precision": "fp32", "notes": c.get("notes") or _exec_notes(c["arch"], net.desc)},
    }
    return card


def _check_input(frames: int, val_x) -> np.ndarray:
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
