#!/usr/bin/env bash
# The project's whole test suite: Python trainer tests, TypeScript type check, then every node:test file.
# Needs the local PostgreSQL and Redis (scripts/setup.sh starts them if they are down).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent db:generate
echo "== trainer (pytest)"
/usr/bin/python3 -m pytest packages/trainer/tests -q -p no:cacheprovider
echo "== type check (tsc)"
npx tsc -p tsconfig.json --noEmit
echo "== node:test"
mapfile -t files < <(find packages services test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
node --import tsx --test --test-concurrency=2 "${files[@]}"
