#!/usr/bin/env bash
# Install everything signwriter needs on a fresh Debian/Ubuntu machine, then the Python
# package into .venv. Idempotent: re-running skips what is already there.
#   scripts/setup.sh            core + dev tools (what `make demo` and `make test` need)
#   EXTRAS=dev,local scripts/setup.sh   also torch/diffusers for the local backend
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-dev}"
PYTHON="${PYTHON:-python3}"
# tesseract-ocr-kor: the Korean judge's recogniser (rapidocr's vocabulary has no Hangul;
# see qa/scripts.py)
APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra
              tesseract-ocr-kor
              fonts-noto-cjk fonts-dejavu-core fonts-dejavu-extra
              fonts-liberation2 fonts-freefont-ttf   # reference faces of qa/lookalike.py
              fonts-urw-base35 fonts-wqy-zenhei fonts-arphic-uming   # bench qa --set hard
              chromium)
# chromium: the review web app's browser test (Playwright drives Debian's chromium; no
# browser download)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "==> installing system packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${need_apt[@]}" >/dev/null
  else
    echo "!! please install tesseract (with eng + chi_sim data) and Noto CJK + DejaVu fonts" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.signwriter-installed-$EXTRAS"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing signwriter[$EXTRAS] into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if [[ ",$EXTRAS," == *",local,"* ]]; then
    # the CPU build of torch first, pinned (PyPI's Linux wheel pulls gigabytes of CUDA):
    # installed, a local wheel, or PyTorch's CPU index — the script says which
    scripts/install-torch.sh "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
  touch "$stamp"
fi
echo "==> ready: $VENV/bin/signwriter"
