#!/usr/bin/env bash
# Set up robust-sabn on a fresh machine: Debian's Fashion-MNIST (the offline default dataset),
# a virtual environment in .venv, torch/torchvision pinned to the releases this project is
# tested with, and the package with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq dataset-fashion-mnist
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[test]'
