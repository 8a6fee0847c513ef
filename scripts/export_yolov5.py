"""Exports a YOLOv5 checkpoint (.pt) to TorchScript that accepts any input size (multiple of 32).

The official `yolov5 export` traces the detection head with its anchor grid frozen at the export
size, so the file then runs at that one size only. Here the head builds its grid from the feature
map itself, so the trace keeps it shape-dependent; everything else (weights, fused layers, output
layout [batch, anchors, 5 + classes], the `config.txt` extra file) is what the official export
writes.

usage: python export_yolov5.py WEIGHTS.pt OUT.torchscript [IMGSZ]
"""
import json
import os
import sys

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from yolov5.models.experimental import attempt_load  # noqa: E402
from yolov5.models.yolo import Detect  # noqa: E402


def grid_of(feature, anchors, stride):
    """The cell offsets and anchor sizes of one head level, from tensor ops on the feature map."""
    ones = torch.ones_like(feature[:1, :1, :, :, 0])  # (1, 1, ny, nx)
    gx = ones.cumsum(3) - 1
    gy = ones.cumsum(2) - 1
    grid = torch.stack((gx, gy), -1) - 0.5  # (1, 1, ny, nx, 2)
    anchor_grid = (anchors * stride).view(1, -1, 1, 1, 2)
    return grid, anchor_grid


def forward(self, x):
    z = []
    for i in range(self.nl):
        x[i] = self.m[i](x[i])
        bs, _, ny, nx = x[i].shape
        p = x[i].view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
        grid, anchor_grid = grid_of(p, self.anchors[i], self.stride[i])
        xy, wh, conf = p.sigmoid().split((2, 2, self.nc + 1), 4)
        xy = (xy * 2 + grid) * self.stride[i]
        wh = (wh * 2) ** 2 * anchor_grid
        z.append(torch.cat((xy, wh, conf), 4).view(bs, -1, self.no))
    return torch.cat(z, 1)


def main():
    weights, out = sys.argv[1], sys.argv[2]
    imgsz = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
    model = attempt_load(weights, device="cpu", inplace=True, fuse=True).eval()
    for m in model.modules():
        if type(m) is Detect:
            m.forward = forward.__get__(m, Detect)
    im = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        ts = torch.jit.trace(model, im, strict=False, check_trace=False)
        # The point of this export: another size must run and give the head's layout.
        probe = ts(torch.zeros(1, 3, 384, 640))
    probe = probe[0] if isinstance(probe, (tuple, list)) else probe
    assert probe.shape == (1, 3 * (48 * 80 + 24 * 40 + 12 * 20), 5 + len(model.names)), probe.shape
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    config = {"shape": list(im.shape), "stride": int(max(model.stride)), "names": names}
    tmp = out + ".tmp"
    ts.save(tmp, _extra_files={"config.txt": json.dumps(config)})
    os.replace(tmp, out)
    print(f"export_yolov5: wrote {out} ({len(names)} classes, traced at {imgsz})")


if __name__ == "__main__":
    main()
