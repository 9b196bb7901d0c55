#!/usr/bin/env bash
# Install the pinned torch into a virtual environment, CPU build, and say where it came from.
#   scripts/install-torch.sh VENV            install (what `make test` does via setup.sh)
#   scripts/install-torch.sh VENV --dry-run  only say which source it would use
# Sources, in order: already installed; a local wheel pip can see (--find-links, e.g. a
# wheelhouse); PyTorch's own CPU wheel index when it is reachable; PyPI as the last resort
# (whose Linux torch wheel pulls the CUDA libraries: gigabytes).
set -euo pipefail
VENV="${1:?usage: install-torch.sh VENV [--dry-run]}"
DRY="${2:-}"
PIN="${TORCH_PIN:-torch==2.13.0}"
WANT="${PIN#torch==}"
CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
PY="$VENV/bin/python"

say() { echo "==> torch: $*"; }
run() { if [ "$DRY" = "--dry-run" ]; then echo "    (dry run) $*"; else "$@"; fi; }

have=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ "${have%%+*}" = "$WANT" ]; then
  say "$have already installed in $VENV"
  exit 0
fi
if "$PY" -m pip install --dry-run --quiet --no-index --no-deps "$PIN" >/dev/null 2>&1; then
  say "installing $PIN from a local wheel (pip --find-links)"
  run "$PY" -m pip install -q --no-index --no-deps "$PIN"
  run "$PY" -m pip install -q "$PIN"   # its dependencies
  exit 0
fi
if "$PY" - "$CPU_INDEX" <<'PYEOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10).read(1)
PYEOF
then
  say "installing $PIN (CPU build) from $CPU_INDEX"
  run "$PY" -m pip install -q "$PIN" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple
  exit 0
fi
say "WARNING: $CPU_INDEX is not reachable and no local wheel was found; installing $PIN" \
    "from PyPI (on Linux this pulls the CUDA libraries, several GB)"
run "$PY" -m pip install -q "$PIN"
