#!/bin/bash
# weights/see-cifar10-d4.slim: the 4x4 split, 16 channels per member, learned quantizer steps (docs/MODELS.md).
#   bash train/recipes/see-cifar10-d4.sh [gpu|export|pack]
# gpu: 117 epochs, 322 s on one H100 (no CPU fine-tune). export: ~2 min on 2 cores.
source "$(dirname "$0")/lib.sh"
M=$OUT/see-cifar10-d4
if run_stage gpu "$M/gpu.npz"; then
  need_gpu "$M/gpu.npz"
  # The shipped run: --budget-s 325, 117 epochs.
  "$GPU_PYTHON" train/cifar.py --device cuda --bs 512 --lr 0.4 --threads 4 --enc d4 --c4 64 --dec 128 --cm 16 \
    --lam 5.6e-4 --member-rate 0.25 --rate-pow 1 --kd 0.7 --learn-steps 2,4,8 --epochs 117 \
    --out "$M/gpu" --ckpt "$M/gpu.npz"
fi
if run_stage export "$(export_dir see-cifar10-d4)/see-cifar10-d4.graph.json"; then
  # int8 everywhere; contexts from the left, up, up-left and up-right neighbours at every bit depth
  # (K 2 at 1-2 bits, K 3 at 4-8 bits); decoder norm statistics per members count.
  "$PYTHON" train/export_cifar.py --ckpt "$M/gpu.npz" --name see-cifar10-d4 --f32 '' \
    --ctx1 2,0,diag --ctx2 2,0,diag --ctx4 3,0,diag --ctx8 3,0,diag --train-pixels jsdec --norm members \
    --baseline '' --out "$(export_dir see-cifar10-d4)" $(fixtures_args) ${EXPORT_ARGS:-} --no-pack
fi
if run_stage pack; then pack see-cifar10-d4; fi
