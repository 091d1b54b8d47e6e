#!/bin/bash
# weights/see-cifar10-d8.slim: the 8x8 split, 8 channels per member (docs/MODELS.md).
#   bash train/recipes/see-cifar10-d8.sh [gpu|export|pack]
# gpu: 183 epochs, 512 s on one H100 (no CPU fine-tune). export: ~4 min on 2 cores.
source "$(dirname "$0")/lib.sh"
M=$OUT/see-cifar10-d8
if run_stage gpu "$M/gpu.npz"; then
  need_gpu "$M/gpu.npz"
  # The shipped run: --budget-s 515, 183 epochs.
  "$GPU_PYTHON" train/cifar.py --device cuda --bs 512 --lr 0.4 --threads 4 --enc d8 --dec 144,160 --cm 8 \
    --lam 2.8e-4 --member-rate 0.25 --rate-pow 1 --kd 0.7 --epochs 183 --out "$M/gpu" --ckpt "$M/gpu.npz"
fi
if run_stage export "$(export_dir see-cifar10-d8)/see-cifar10-d8.graph.json"; then
  # int8 weights everywhere; 4-bit contexts from coarser neighbours (K 2, shift 3) to stay under 2 MB;
  # coder counts on jpeg-js training pixels (the checkpoint trained on Pillow's).
  "$PYTHON" train/export_cifar.py --ckpt "$M/gpu.npz" --name see-cifar10-d8 --ctx4 2,3 --f32 '' \
    --train-pixels jsdec --baseline '' --out "$(export_dir see-cifar10-d8)" $(fixtures_args) ${EXPORT_ARGS:-} --no-pack
fi
if run_stage pack; then pack see-cifar10-d8; fi
