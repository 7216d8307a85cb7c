"""`python3 -m pssr_trainer train --config CONFIG.json` (JSON lines on stdout, CONTRACTS "Trainer subprocess
protocol"), `bench` (CPU ms per frame of the architectures), `evaluate` (a trained model on held-out data) and `valset`
(the held-out validation series of a config as HR TIFFs, for `pssr calibrate`)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import traceback


def _fail(code: str, message: str, status: int) -> int:
    from .events import emit, log

    emit("error", code=code, message=message)
    log(f"error: {message}")
    return status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m pssr_trainer")
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train a model; JSON lines on stdout")
    tr.add_argument("--config", required=True, help="JSON config (keys of TrainConfig, docs in README.md)")
    be = sub.add_parser("bench", help="CPU ms per 256x256 -> 1024x1024 frame for fast vs pssr")
    be.add_argument("--threads", type=int, default=2)
    be.add_argument("--repeats", type=int, default=3)
    be.add_argument("--json", action="store_true")
    ev = sub.add_parser("evaluate", help="metrics of a trained model on held-out data (JSON on stdout)")
    ev.add_argument("--model", required=True, help="model folder with weights.pt (or a bundled model name)")
    ev.add_argument("--config", required=True, help="a training config: its data, valData/valFraction, channel, recipe, valSeed are used")
    ev.add_argument("--only", action="append", default=[], help="keep only validation series whose name contains this")
    vs = sub.add_parser("valset", help="write the held-out validation series of a config as HR TIFFs (for pssr calibrate)")
    vs.add_argument("--config", required=True, help="a training config: its data, valData/valFraction, channel are used")
    vs.add_argument("--out", required=True, help="folder to write val-NN.tif and valset.json into")
    fp = sub.add_parser("fp16", help="write MODEL_DIR/model.fp16.onnx (float16 weights, float32 input/output)")
    fp.add_argument("model_dir", nargs="+")
    args = ap.parse_args(argv)

    if args.cmd == "fp16":
        from .fp16 import convert_dir

        for d in args.model_dir:
            print(convert_dir(d))
        return 0

    if args.cmd == "bench":
        from .bench import main as bench_main

        return bench_main(args.threads, args.repeats, args.json)

    from .errors import TrainInputError

    try:
        try:
            with open(args.config) as f:
                raw = json.load(f)
        except FileNotFoundError:
            raise TrainInputError(f"{args.config}: config file not found")
        except json.JSONDecodeError as e:
            raise TrainInputError(f"{args.config}: not valid JSON ({e.msg} at line {e.lineno})")
        if args.cmd == "train":
            from .train import run

            run(raw, command=raw.get("command") or "python3 -m pssr_trainer " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))
        elif args.cmd == "valset":
            from .valset import write_valset

            print(json.dumps(write_valset(raw, args.out)))
        else:
            from .evalcmd import evaluate_model

            print(json.dumps(evaluate_model(args.model, raw, args.only), indent=2))
        return 0
    except TrainInputError as e:
        return _fail("TRAIN_BAD_INPUT", e.message, 2)
    except KeyboardInterrupt:
        return _fail("CANCELED", "training interrupted", 1)
    except Exception as e:  # internal failure: one line on stdout, the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        return _fail("TRAIN_FAILED", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", 1)


if __name__ == "__main__":
    sys.exit(main())
