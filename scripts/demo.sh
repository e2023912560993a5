#!/usr/bin/env bash
# The main job on the embedded default, on a CPU: train a SaAuxBN small CNN on Fashion-MNIST
# with PGD adversarial training, evaluate it per branch with PGD-20 and standard AutoAttack on
# the first N test examples, print the table, and render a Markdown report.
# Usage: scripts/demo.sh [RUN_DIR] [N_EXAMPLES]   (defaults: runs/demo 500)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/demo}
n=${2:-500}
bin=.venv/bin/robust-sabn
$bin train --preset fmnist-quick --norm saauxbn --out "$run" --resume
$bin eval "$run/best.pt" --attacks pgd,autoattack --version standard --n-examples "$n" \
  -o "$run/eval.json"
$bin report "$run" -o "$run/report.md"
