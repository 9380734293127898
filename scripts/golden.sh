#!/usr/bin/env bash
# Runs the lab's commands at fixed seeds and writes a table of the SHA-256 of every file they
# produce, so that a refactor can show its outputs are byte-identical before and after.
#
#   scripts/golden.sh BIN OUT_DIR          # writes OUT_DIR/hashes.txt
#   scripts/golden.sh --compare A.txt B.txt  # lists files whose hashes differ
#
# JSON files are hashed with their timing fields removed (keys naming seconds, elapsed or wall
# time, rates per second); PNGs that print wall times are listed as such in the table. Needs
# DIFFLAB_MNIST_DIR (or a cached MNIST) and ../shared/fixtures/diffusers for Module 4.
set -euo pipefail
if [ "${1:-}" = "--compare" ]; then
    diff <(sort "$2") <(sort "$3") && echo "identical: $(wc -l <"$2") files"
    exit $?
fi
bin=$(realpath "$1"); out=$(realpath -m "$2")
fixture=$(realpath "$(dirname "$0")/../../shared/fixtures/diffusers/unet_tiny")
rm -rf "$out"; mkdir -p "$out"; cd "$out"
run() { echo "+ difflab $*" >&2; "$bin" "$@" >>"$out/log.txt" 2>&1; }
run forward --out forward
run train --epochs 1 --out train
run sample --model train --count 8 --steps 20 --out sample
run sample --model train --sampler ddim --steps 10 --count 4 --out sample-ddim
run inpaint --model train --count 4 --steps 20 --out inpaint
run pretrained --model "$fixture" --count 2 --steps 5 --out pretrained
run lab --fast --skip-pretrained --out lab
python3 - "$out" <<'PY'
import hashlib, json, os, re, sys
root = sys.argv[1]
timing = re.compile(r"(second|elapsed|wall|per_sec|_s$|^time|duration|img_per|speed|gflop|throughput)", re.I)
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not timing.search(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
rows = []
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        if rel in ("log.txt", "hashes.txt"):
            continue
        data = open(p, "rb").read()
        if f.endswith(".json"):
            data = json.dumps(strip(json.loads(data)), sort_keys=True).encode()
        rows.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
open(os.path.join(root, "hashes.txt"), "w").write("\n".join(sorted(rows, key=lambda r: r[66:])) + "\n")
print(f"{len(rows)} files hashed into {root}/hashes.txt")
PY
