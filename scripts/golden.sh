#!/usr/bin/env bash
# Runs the lab's commands at fixed seeds and writes a table of the SHA-256 of every file they
# produce, so that a refactor can show its outputs are byte-identical before and after.
#
#   scripts/golden.sh BIN OUT_DIR          # writes OUT_DIR/hashes.txt
#   scripts/golden.sh --compare A.txt B.txt  # lists files whose hashes differ
#
# Content is hashed, not incidental bytes: JSON without its timing fields (seconds, rates, dates),
# HTML and Markdown with quoted wall times and embedded images masked, safetensors with its header's keys sorted;
# `steps.png` prints wall times and is listed without a hash. Needs
# DIFFLAB_MNIST_DIR (or a cached MNIST) and ../shared/fixtures/diffusers for Module 4.
set -euo pipefail
if [ "${1:-}" = "--compare" ]; then
    diff <(sort "$2") <(sort "$3") && echo "identical: $(wc -l <"$2") files"
    exit $?
fi
bin=$(realpath "$1"); out=$(realpath -m "$2")
fixture=$(realpath "$(dirname "$0")/../../shared/fixtures/diffusers/unet_tiny")
rm -rf "$out"; mkdir -p "$out"; cd "$out"
# A cache of earlier runs (the evaluator's classifier) would change what the lab trains: start empty.
XDG_CACHE_HOME=$(mktemp -d); export XDG_CACHE_HOME; trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
run() { echo "+ difflab $*" >&2; "$bin" "$@" >>"$out/log.txt" 2>&1; }
run forward --out forward
run train --epochs 1 --out train
run sample --model train --count 8 --steps 20 --out sample
run sample --model train --sampler ddim --steps 10 --count 4 --out sample-ddim
run inpaint --model train --count 4 --steps 20 --out inpaint
run pretrained --model "$fixture" --count 2 --steps 5 --out pretrained
run lab --fast --skip-pretrained --out lab
python3 - "$out" <<'PY'
import hashlib, json, os, re, struct, sys
root = sys.argv[1]
# JSON keys that hold wall times, rates or dates: left out of the hash.
timing = re.compile(r"(second|elapsed|wall|per_sec|_s$|^time|duration|img_per|speed|gflop|throughput|unix|estimate)", re.I)
# Text that quotes wall times ("5.2 s", "1,578 images per second"): masked in HTML and Markdown.
timed_text = re.compile(rb"\d[\d,.]*( ?(s|ms|min)\b| images per second)")
timed_cell = re.compile(rb"(<code>([A-Za-z0-9_]+)</code></td><td[^>]*>)([^<]*)")
# Figures that print wall times in their labels: listed, not hashed.
timed_png = {"steps.png"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not timing.search(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
def canonical(path, data):
    name = os.path.basename(path)
    if name.endswith(".json"):
        return json.dumps(strip(json.loads(data)), sort_keys=True).encode()
    if name.endswith((".html", ".md")):
        # Tables of a JSON's numbers quote the timing keys too.
        data = timed_cell.sub(lambda m: m.group(1) + (b"<time>" if timing.search(m.group(2).decode()) else m.group(3)), data)
        # Embedded figures are hashed as the PNG files they are made from.
        data = re.sub(rb"data:image/png;base64,[A-Za-z0-9+/=]+", b"<png>", data)
        return timed_text.sub(b"<time>", data)
    if name.endswith(".safetensors"):
        # The header's key order is not part of the content (see issue 19); sort it.
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        meta = header.get("__metadata__", {})
        for k, v in meta.items():  # metadata values that are JSON lose their timings too
            try:
                meta[k] = strip(json.loads(v))
            except ValueError:
                pass
        return json.dumps(header, sort_keys=True).encode() + data[8 + n:]
    return data
rows = []
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        if rel in ("log.txt", "hashes.txt"):
            continue
        if f in timed_png:
            rows.append(f"{'(prints wall times: not hashed)':64}  {rel}")
            continue
        digest = hashlib.sha256(canonical(p, open(p, "rb").read())).hexdigest()
        rows.append(f"{digest}  {rel}")
open(os.path.join(root, "hashes.txt"), "w").write("\n".join(sorted(rows, key=lambda r: r[66:])) + "\n")
print(f"{len(rows)} files hashed into {root}/hashes.txt")
PY
