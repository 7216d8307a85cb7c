#!/usr/bin/env bash
# Stages `npm run bench:gpu` for an offline GPU host (CUDA 13, no Node, no network) with
# ../shared/gpu/make-stage.sh, and prints the device calls that run it (docs/GPU.md).
# Usage, from a checkout after `npm ci`:  bash scripts/gpu-stage.sh
# Writes .gpu-stage/ (git-ignored): cuda.part00.. (parts of at most 45 MB), runtime.tar.xz (Node,
# onnxruntime-node with the CUDA provider, the bundled benchmark) and unpack.sh.
# The benchmark runs from the transferred working tree (models, examples, trainer), so only the bundle is staged.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
make_stage=${MAKE_STAGE:-$root/../shared/gpu/make-stage.sh}
[ -f "$make_stage" ] || { echo "make-stage.sh not found at $make_stage (set MAKE_STAGE)" >&2; exit 2; }
[ -d node_modules/onnxruntime-node ] || { echo "run npm ci first" >&2; exit 2; }

# 1. The benchmark as one ES module (no TypeScript loader there); onnxruntime-node stays external, and the
#    session worker, loaded by URL next to the bundle, is copied beside it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist"
npx --no-install esbuild packages/cli/bench/gpu.ts --bundle --platform=node --target=node20 --format=esm \
  --external:onnxruntime-node --outfile="$work/dist/gpu-bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __pssrCreateRequire } from 'node:module'; const require = __pssrCreateRequire(import.meta.url);"
cp packages/inference/src/session-worker.js "$work/dist/session-worker.js"

# 2. make-stage.sh takes files relative to a git root and writes .gpu-stage/ there; a scratch root keeps it
#    independent of worktrees (whose .git is a file) and of what else is in this checkout.
git -C "$work" init -q
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && bash "$make_stage" dist/gpu-bench.mjs dist/session-worker.js >/dev/null)
rm -rf .gpu-stage && mv "$work/.gpu-stage" .gpu-stage
grep -qx '/.gpu-stage/' .gitignore 2>/dev/null || grep -qx '.gpu-stage/' .gitignore 2>/dev/null || echo "warning: .gpu-stage/ is not in .gitignore" >&2

parts=(.gpu-stage/cuda.part*)
echo "staged in $root/.gpu-stage:"
ls -l .gpu-stage | tail -n +2
echo
echo "device calls (one machine, in quick succession: it is given back 30 s after a call; the working tree travels with each):"
i=1
for p in "${parts[@]}"; do
  echo "$i. run carry=[\"$p\"] command: mkdir -p /root/stage && cp $p /root/stage/ && ls -l /root/stage"
  i=$((i + 1))
done
echo "$i. run carry=[\".gpu-stage/runtime.tar.xz\", \".gpu-stage/unpack.sh\"] timeout_s=600 command:"
echo "   source .gpu-stage/unpack.sh && nvidia-smi -L; node /root/rt/app/dist/gpu-bench.mjs --model packages/models/em --oom --out \$OUT/bench-gpu.json > \$OUT/bench-gpu.log 2>&1; tail -c 4000 \$OUT/bench-gpu.log"
echo "then give_back; the JSON comes back as bench-gpu.json."
