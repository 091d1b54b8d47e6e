#!/bin/bash
# weights/see-cifar10-d4r.slim: the 4x4 split whose members 2-4 refine member 1 (docs/MODELS.md).
# Made from the 4x4 model's GPU checkpoint (train/recipes/see-cifar10-d4.sh gpu) on the CPU.
#   bash train/recipes/see-cifar10-d4r.sh [cpu|export|pack]
# cpu: 15 epochs in 55 min on one core. export: ~4 min on 2 cores.
source "$(dirname "$0")/lib.sh"
M=$OUT/see-cifar10-d4r
D4=$OUT/see-cifar10-d4/gpu.npz
if run_stage cpu "$M/refine.npz"; then
  [ -e "$D4" ] || { echo "$D4 is missing: run train/recipes/see-cifar10-d4.sh gpu first" >&2; exit 1; }
  "$PYTHON" train/refine.py --init "$D4" --refine 1 --pixels jsdec --budget-s 3300 --threads 1 \
    --out "$M/refine" --ckpt "$M/refine.npz"
fi
if run_stage export "$(export_dir see-cifar10-d4r)/see-cifar10-d4r.graph.json"; then
  "$PYTHON" train/export_cifar.py --ckpt "$M/refine.npz" --name see-cifar10-d4r --f32 '' \
    --ctx1 2,0,diag --ctx2 2,0,diag --ctx4 3,0,diag --ctx8 3,0,diag --train-pixels jsdec --norm members \
    --baseline '' --out "$(export_dir see-cifar10-d4r)" $(fixtures_args) ${EXPORT_ARGS:-} --no-pack
fi
if run_stage pack; then pack see-cifar10-d4r; fi
