#!/bin/bash
# weights/jpeg-baseline.slim: the classifier the JPEG baseline is scored with (docs/MODELS.md): the
# 8-channel-per-member encoder and the 16x16 model's server side, unquantized, trained on JPEG
# re-encodes at random qualities.
#   bash train/recipes/jpeg-baseline.sh [gpu|export|pack]
# gpu: 114 epochs (< 420 s on an H100). export: under a minute.
source "$(dirname "$0")/lib.sh"
M=$OUT/jpeg-baseline
if run_stage gpu "$M/gpu.npz"; then
  need_gpu "$M/gpu.npz"
  # The shipped run: --budget-s 420 on a shared H200, 114 epochs.
  "$GPU_PYTHON" train/jpeg_baseline.py --device cuda --bs 512 --lr 0.4 --threads 4 --dec 96,160,192 --cm 8 \
    --epochs 114 --out "$M/gpu" --ckpt "$M/gpu.npz"
fi
if run_stage export "$(export_dir jpeg-baseline)/jpeg-baseline.graph.json"; then
  # The bottleneck conv float32 (--f32 enc.head, the exporter's default), the rest int8.
  "$PYTHON" train/export_cifar.py --ckpt '' --baseline "$M/gpu.npz" --f32 enc.head --out "$(export_dir jpeg-baseline)" $(fixtures_args) ${EXPORT_ARGS:-} --no-pack
fi
if run_stage pack; then pack jpeg-baseline; fi
