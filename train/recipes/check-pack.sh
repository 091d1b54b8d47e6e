#!/bin/bash
# Checks that every shipped blob is rebuilt byte-identically by the packer from its exported graph:
# each model's export stage (train/recipes/<name>.sh export) is rerun from its checkpoint into a
# scratch folder (golden vectors there too, so test/fixtures/ is not touched), packed, and compared
# with weights/<name>.slim.
#
#   bash train/recipes/check-pack.sh
#
# see-384-random needs no checkpoint: its exported graph is kept in test/fixtures/see/ and is also
# re-exported from its seed (when PyTorch is installed) and compared with the kept one. The trained
# models need their export-stage input in train/out/<model>/ (the recipes' checkpoints; not in git);
# a model without one is reported as not checked. Exit status 1 if any checked blob differs.
source "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
report=()
same() {   # same <label> <a> <b>
  if cmp -s "$2" "$3"; then report+=("identical   $1"); else report+=("DIFFERENT   $1"); fail=1; fi
}
have_torch() { "$PYTHON" -c 'import torch' 2>/dev/null; }

# see-384-random: the kept graph, then a fresh export from the seed
F=test/fixtures/see
$SLIMSPLIT pack $F/see-384-random.graph.json $F/see-384-random.tensors.bin -o "$TMP/see-384-random.slim" > /dev/null
same "weights/see-384-random.slim <- pack $F/see-384-random.graph.json" "$TMP/see-384-random.slim" weights/see-384-random.slim
if have_torch; then
  "$PYTHON" train/see.py --out "$TMP/see" --fixtures "$TMP/see" --no-onnx --no-pack > "$TMP/see.log"
  same "$F/see-384-random.graph.json <- train/see.py" "$TMP/see/see-384-random.graph.json" $F/see-384-random.graph.json
  same "$F/see-384-random.tensors.bin <- train/see.py" "$TMP/see/see-384-random.tensors.bin" $F/see-384-random.tensors.bin
  $SLIMSPLIT pack "$TMP/see/see-384-random.graph.json" "$TMP/see/see-384-random.tensors.bin" -o "$TMP/see-384-random.2.slim" > /dev/null
  same "weights/see-384-random.slim <- train/see.py + pack" "$TMP/see-384-random.2.slim" weights/see-384-random.slim
else
  report+=("not checked train/see.py re-export: no PyTorch in $PYTHON")
fi

# The trained models: each recipe's own export stage (the same flags), into the scratch folder
check_trained() {   # check_trained <name> <checkpoint the export stage reads>
  local name=$1 ckpt=$2
  if [ ! -e "$ckpt" ]; then report+=("not checked weights/$name.slim: no checkpoint $ckpt"); return; fi
  if ! have_torch; then report+=("not checked weights/$name.slim: no PyTorch in $PYTHON"); return; fi
  EXPORT_DIR="$TMP/$name" FIXTURES="$TMP/$name/fixtures" bash train/recipes/$name.sh export > "$TMP/$name.log"
  $SLIMSPLIT pack "$TMP/$name/$name.graph.json" "$TMP/$name/$name.tensors.bin" -o "$TMP/$name.slim" > /dev/null
  same "weights/$name.slim <- export $ckpt + pack" "$TMP/$name.slim" "weights/$name.slim"
}
check_trained see-cifar10 "$OUT/see-cifar10/finetune.npz"
check_trained see-cifar10-d8 "$OUT/see-cifar10-d8/gpu.npz"
check_trained see-cifar10-d4 "$OUT/see-cifar10-d4/gpu.npz"
check_trained see-cifar10-d4r "$OUT/see-cifar10-d4r/refine.npz"
check_trained jpeg-baseline "$OUT/jpeg-baseline/gpu.npz"

printf '%s\n' "${report[@]}"
exit $fail
