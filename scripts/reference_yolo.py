"""The Python reference pipelines smartpark's detector is compared with (tests and `smartpark bench
detect`): the `yolov5` and `ultralytics` packages' own predict code on the original checkpoints.

  reference_yolo.py predict --family yolov5|ultralytics --weights W.pt --imgsz N [--conf C] [--iou I] IMAGE...
      one JSON line per image: {"image", "boxes": [[x1, y1, x2, y2, score, class], ...]}
  reference_yolo.py bench --weights W.pt --imgsz N --threads T IMAGE...
      the yolov5 pipeline, timed per stage; last line one JSON object of milliseconds per frame
"""
import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402


def yolov5_pipeline(weights, imgsz):
    """detect.py's own steps: DetectMultiBackend, the letterbox of LoadImages, NMS, scale_boxes."""
    import cv2
    import numpy as np
    from yolov5.models.common import DetectMultiBackend
    from yolov5.utils.augmentations import letterbox
    from yolov5.utils.general import non_max_suppression, scale_boxes

    model = DetectMultiBackend(weights, device=torch.device("cpu"), fuse=True)
    stride, pt = model.stride, model.pt

    def decode(path):
        im0 = cv2.imread(path)
        if im0 is None:
            raise SystemExit(f"cannot read {path}")
        return im0

    def preprocess(im0):
        im = letterbox(im0, imgsz, stride=stride, auto=pt)[0]
        im = np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])
        return torch.from_numpy(im).float().div_(255)[None]

    def infer(im):
        return model(im)

    def postprocess(pred, im, im0, conf, iou):
        det = non_max_suppression(pred, conf, iou, None, False, max_det=1000)[0]
        det[:, :4] = scale_boxes(im.shape[2:], det[:, :4], im0.shape).round()
        return det.tolist()

    return decode, preprocess, infer, postprocess


def predict_yolov5(args):
    decode, preprocess, infer, postprocess = yolov5_pipeline(args.weights, args.imgsz)
    with torch.inference_mode():
        for path in args.images:
            im0 = decode(path)
            im = preprocess(im0)
            boxes = postprocess(infer(im), im, im0, args.conf, args.iou)
            print(json.dumps({"image": path, "boxes": boxes}), flush=True)


def predict_ultralytics(args):
    from ultralytics import YOLO

    model = YOLO(args.weights)
    for path in args.images:
        r = model.predict(path, imgsz=args.imgsz, conf=args.conf, iou=args.iou, device="cpu", verbose=False)[0]
        b = r.boxes
        boxes = [[*xyxy, s, c] for xyxy, s, c in zip(b.xyxy.tolist(), b.conf.tolist(), b.cls.tolist())]
        print(json.dumps({"image": path, "boxes": boxes}), flush=True)


def bench(args):
    torch.set_num_threads(args.threads)
    decode, preprocess, infer, postprocess = yolov5_pipeline(args.weights, args.imgsz)
    stages = {"decode": 0.0, "preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
    frames = 0
    with torch.inference_mode():
        for warm in (True, False):
            for path in args.images[:2] if warm else args.images * args.passes:
                t0 = time.perf_counter()
                im0 = decode(path)
                t1 = time.perf_counter()
                im = preprocess(im0)
                t2 = time.perf_counter()
                pred = infer(im)
                t3 = time.perf_counter()
                postprocess(pred, im, im0, args.conf, args.iou)
                t4 = time.perf_counter()
                if not warm:
                    frames += 1
                    for k, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                        stages[k] += dt
    out = {k: round(v * 1000 / frames, 3) for k, v in stages.items()}
    out["frames"] = frames
    out["ms_per_frame"] = round(sum(stages.values()) * 1000 / frames, 3)
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["predict", "bench"])
    p.add_argument("--family", choices=["yolov5", "ultralytics"], default="yolov5")
    p.add_argument("--weights", required=True)
    p.add_argument("--imgsz", type=int, default=1280)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.45)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--passes", type=int, default=1)
    p.add_argument("images", nargs="+")
    args = p.parse_args()
    if args.mode == "bench":
        bench(args)
    elif args.family == "yolov5":
        predict_yolov5(args)
    else:
        predict_ultralytics(args)


if __name__ == "__main__":
    sys.exit(main())
