#!/bin/bash
# weights/see-cifar10.slim: the 16x16 split, 4 channels per member (docs/MODELS.md).
#   bash train/recipes/see-cifar10.sh [gpu|cpu|export|pack]
# gpu: 157 epochs, 447 s on one H100. cpu: 30 min on 2 cores. export: ~6 min on 2 cores.
source "$(dirname "$0")/lib.sh"
M=$OUT/see-cifar10
if run_stage gpu "$M/gpu.npz"; then
  need_gpu "$M/gpu.npz"
  # The shipped run trained for --budget-s 450 and reached 157 epochs; --epochs 157 follows the same
  # one-cycle schedule by steps (GPU kernels are not deterministic, so not bit for bit).
  "$GPU_PYTHON" train/cifar.py --device cuda --bs 512 --lr 0.4 --threads 4 --dec 96,160,192 --cm 4 \
    --lam 2.8e-4 --member-rate 0.25 --rate-pow 1 --kd 0.7 --epochs 157 --out "$M/gpu" --ckpt "$M/gpu.npz"
fi
if run_stage cpu "$M/finetune.npz"; then
  # On the training images as the engine's jpeg-js decodes them, which is what its evaluation feeds
  # the engine: 3.6 epochs in the 30 min budget on 2 cores.
  "$PYTHON" train/cifar.py --init "$M/gpu.npz" --pixels jsdec --budget-s 1800 --threads 2 \
    --lr 0.005 --lam 2.8e-4 --member-rate 0.25 --kd 0.7 --out "$M/finetune" --ckpt "$M/finetune.npz"
fi
if run_stage export "$(export_dir see-cifar10)/see-cifar10.graph.json"; then
  # Defaults: the bottleneck conv float32 (--f32 enc.head), training's norm statistics, contexts
  # (left, up, previous channel) at 1, 2 and 4 bits, coder counts on jpeg-js training pixels.
  "$PYTHON" train/export_cifar.py --ckpt "$M/finetune.npz" --name see-cifar10 --baseline '' \
    --out "$(export_dir see-cifar10)" $(fixtures_args) ${EXPORT_ARGS:-} --no-pack
fi
if run_stage pack; then pack see-cifar10; fi
