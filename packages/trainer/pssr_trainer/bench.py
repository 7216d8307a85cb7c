"""CPU cost of restoring one 256x256 LR frame to 1024x1024: `fast` vs the published `pssr` design.

fast runs on the whole LR frame. The published design runs at output size; its self-attention over a whole
1024x1024 output is quadratic in memory, so (as PSSR did) it runs on 4 output tiles of 512x512 from 128x128
LR inputs, halo not counted (which favours it)."""
from __future__ import annotations

import json
import time

import torch

from .nets import FastNet, PSSRUNet, count_flops, count_parameters


def _time(model, shape, repeats: int, warm_up: bool = True) -> float:
    x = torch.rand(*shape)
    with torch.no_grad():
        if warm_up:
            model(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    return best


def main(threads: int = 2, repeats: int = 3, as_json: bool = False) -> int:
    torch.set_num_threads(threads)
    rows = []
    cases = [
        ("fast", "width 32, depth 6 (bundled fluo)", FastNet(1, 32, 6), [1, 1, 256, 256], 1),
        ("fast", "width 32, depth 6, 5 frames (fluo-mf)", FastNet(5, 32, 6), [1, 5, 256, 256], 1),
        ("fast", "width 48, depth 8 (trainer default, bundled em)", FastNet(1, 48, 8), [1, 1, 256, 256], 1),
        ("pssr", "base 64 (published width)", PSSRUNet(1, 64), [1, 1, 128, 128], 4),
        ("pssr", "base 32 (reduced, trained here)", PSSRUNet(1, 32), [1, 1, 128, 128], 4),
    ]
    for arch, label, model, shape, tiles in cases:
        model.eval()
        # the published design takes tens of seconds per frame here: one timed run, no warm-up
        s = _time(model, shape, repeats, True) * tiles if arch == "fast" else _time(model, shape, 1, False) * tiles
        rows.append({"arch": arch, "variant": label, "parameters": count_parameters(model),
                     "gflopPerFrame": round(count_flops(model, shape) * tiles, 1),
                     "msPerFrame": round(s * 1000, 1), "threads": threads,
                     "input": f"{tiles} x {shape}"})
    base = rows[0]["msPerFrame"]
    for r in rows:
        r["relativeToFast"] = round(r["msPerFrame"] / base, 2)
    if as_json:
        print(json.dumps({"torch": torch.__version__, "frame": "256x256 -> 1024x1024", "rows": rows}, indent=2))
    else:
        print(f"torch {torch.__version__} CPU, {threads} threads, one 256x256 -> 1024x1024 frame (best of {repeats})")
        for r in rows:
            print(f"{r['arch']:5s} {r['variant']:34s} {r['parameters']:>10d} params {r['gflopPerFrame']:>8.1f} GFLOP "
                  f"{r['msPerFrame']:>10.1f} ms/frame  x{r['relativeToFast']}")
    return 0
