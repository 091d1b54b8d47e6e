#!/bin/bash
# weights/see-384-random.slim: the SEE paper's encoder (3x384x384 input, 4 members) with random
# weights from a fixed seed, for the engine's tests and benchmarks (docs/BENCHMARKS.md). No data, no GPU.
#   bash train/recipes/see-384-random.sh [export|pack]
# export writes the graph where the tests keep it, test/fixtures/see/, with the golden outputs and
# the ONNX files the peers run (under a minute); pack needs no PyTorch.
source "$(dirname "$0")/lib.sh"
EXPORT_DIR=${EXPORT_DIR:-test/fixtures/see}
if run_stage export; then
  "$PYTHON" train/see.py --out "$EXPORT_DIR" $(fixtures_args) --no-pack
fi
if run_stage pack; then pack see-384-random; fi
