#!/usr/bin/env bash
# The GPU checks of issue 11, for a session that is lent one GPU (an H200 here): one epoch of
# CIFAR-shaped PreAct ResNet-18 PGD-7 SaAuxBN training, ours (fp32, --amp, --tf32,
# --fused-branches, all three) against a hand-written loop in the authors' style
# (bench/gpu_epoch.py says what each side does). An estimated 3-5 minutes on one H200;
# each timing is also printed as it is taken, so a run cut short still leaves some.
#
# 1. Here, on the CPU machine, once: the device image has torch, torchvision, numpy, scipy, rich
#    and Pillow but not pydantic, torchattacks or pyautoattack, so fetch them (the versions of
#    .venv) as wheels into .whl/ (git-ignored, about 3 MB):
#        scripts/gpu_checks.sh wheels
# 2. One device call (the `run` tool) with carry [".whl"] and timeout_s 600:
#        bash scripts/gpu_checks.sh
#    It writes gpu_epoch.txt (the table), gpu_epoch.json (every timing) and nvidia_smi.txt
#    under $OUT (a new temp folder when $OUT is unset), and stops the benchmark after 540 s.
#
# Extra arguments go to bench/gpu_epoch.py after the defaults below (the last one wins), e.g.
# a CPU dry run: PYTHON=.venv/bin/python bash scripts/gpu_checks.sh --device cpu --examples 64 \
#     --val 32 --batch-size 32 --width 4 --attack-steps 1 --repeats 1
set -euo pipefail
cd "$(dirname "$0")/.."
# What robust_sabn imports that the device image lacks (its KINDS.md package list).
DEVICE_LACKS="pydantic pydantic_core annotated-types typing-inspection typing_extensions
torchattacks pyautoattack"

if [[ "${1:-}" == wheels ]]; then
  # shellcheck disable=SC2086  # one argument per package name
  pins="$(.venv/bin/python -c "import sys; from importlib.metadata import version as v
print(' '.join(f'{n}=={v(n)}' for n in sys.argv[1:]))" $DEVICE_LACKS)"
  rm -rf .whl
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $pins
  # pyautoattack's wheel carries a 44 MB example model; the device call may carry 64 MiB.
  zip -q -d .whl/pyautoattack-*.whl 'pyautoattack/examples/*'
  ls .whl
  exit 0
fi

python="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  >"$out/nvidia_smi.txt" 2>&1 || echo "no nvidia-smi" >"$out/nvidia_smi.txt"
timeout 540 "$python" bench/gpu_epoch.py --device cuda --examples 10240 --val 512 \
  --batch-size 128 --attack-steps 7 --repeats 3 --amp --tf32 --fused-branches \
  --json "$out/gpu_epoch.json" "$@" 2>&1 | tee "$out/gpu_epoch.txt"
echo "results in $out"
