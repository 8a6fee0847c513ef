"""Trains the space classifier: is this parking space occupied, from a small square patch of it.

usage: python train_space_classifier.py --out models/space-classifier.torchscript [options]

What it learns from (all under ../shared, nothing downloaded):
  - CNRPark's 12,584 labelled patches (busy/free) of a lot in Pisa, seen from low cameras;
  - the spaces of PKLot UFPR05's unannotated day (`pklot/day-2013-02-24`), cut exactly as the
    server cuts them, labelled by the YOLOv5n detector where it is sure (a car that fills the
    space, or no vehicle near it at all) and left out where it is not. Frames that have an
    annotation anywhere under the fixtures are left out: figures are measured on those.
The network is YOLOv5n's COCO backbone (../shared/models/yolov5n.pt) with a linear head over its
pooled stride-16 and stride-32 features, fine-tuned with augmentations that stand for other lots:
any scale down to a dozen pixels, any rotation by quarter turns, mirror, light, contrast, colour,
blur and noise.

The same data gives the same file, wherever it is trained: fixed seeds, deterministic kernels, a
fixed thread count, and an archive without the debug records that name this checkout's paths.
The output is TorchScript (`[N, 3, S, S]` RGB in 0..1 → `[N]` logits of "occupied") with a
`config.txt` extra file that tells the server the patch size and how the patch is cut.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import space_patch  # noqa: E402

VEHICLES = (2, 3, 5, 7)  # COCO car, motorcycle, bus, truck


def log(*a):
    print("train-space-classifier:", *a, flush=True)


# ---------------------------------------------------------------- data


def annotated_stems(fixtures):
    """Stems of every frame that has a PKLot annotation: these are measured on, never trained on."""
    return {p.stem for p in Path(fixtures).rglob("bounding_boxes/*.xml")}


def pklot_polygons(xml_path):
    root = ET.parse(xml_path).getroot()
    polys = []
    for space in root.iter():
        if space.tag.lower() != "space":
            continue
        pts = [
            (float(p.get("x")), float(p.get("y")))
            for c in space
            if c.tag.lower() == "contour"
            for p in c
            if p.tag.lower() == "point"
        ]
        if len(pts) >= 3:
            polys.append(np.array(pts))
    return polys


def cnrpark(root):
    out = []
    for path in sorted(Path(root).glob("*/*/*.jpg")):
        label = {"busy": 1, "free": 0}.get(path.parent.name)
        if label is not None:
            out.append((rgb(path), label))
    return out


def rgb(path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"train-space-classifier: cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class Teacher:
    """YOLOv5n as the server runs it (letterbox to 1280, vehicle classes, class-aware NMS), and
    the server's footprint rule, to label the unannotated day's spaces where it is sure."""

    def __init__(self, torchscript):
        torch._C._jit_set_profiling_mode(False)
        self.model = torch.jit.load(torchscript).eval()

    def boxes(self, img, size=1280, conf=0.05, iou=0.45):
        import torchvision

        h, w = img.shape[:2]
        r = min(size / h, size / w)
        nw, nh = round(w * r), round(h * r)
        dw, dh = (size - nw) % 32 / 2, (size - nh) % 32 / 2
        im = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else img
        top, left = round(dh - 0.1), round(dw - 0.1)
        im = cv2.copyMakeBorder(im, top, round(dh + 0.1), left, round(dw + 0.1), cv2.BORDER_CONSTANT, value=(114,) * 3)
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            p = self.model(x)
        p = (p[0] if isinstance(p, (tuple, list)) else p)[0]
        scores = p[:, 5:] * p[:, 4:5]
        score, cls = scores.max(1)
        keep = (p[:, 4] > conf) & (score > conf) & torch.isin(cls, torch.tensor(VEHICLES))
        p, score, cls = p[keep], score[keep], cls[keep]
        b = torch.cat([p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2], 1)
        k = torchvision.ops.batched_nms(b, score, cls, iou)
        b = b[k].numpy()
        b[:, [0, 2]] = ((b[:, [0, 2]] - left) / r).clip(0, w)
        b[:, [1, 3]] = ((b[:, [1, 3]] - top) / r).clip(0, h)
        return b, score[k].numpy()

    @staticmethod
    def labels(polys, boxes, scores):
        """1 where a confident car's footprint (lower half) fills the space (IoU ≥ 0.3), 0 where no
        vehicle's footprint touches it at all, -1 (left out) otherwise."""
        from shapely.geometry import Polygon, box

        out = []
        for poly in polys:
            space = Polygon(poly)
            best, touched = 0.0, False
            for (x1, y1, x2, y2), s in zip(boxes, scores):
                foot = box(x1, y2 - 0.5 * (y2 - y1), x2, y2)
                inter = space.intersection(foot).area
                if inter <= 0:
                    continue
                touched = True
                if s >= 0.25:
                    best = max(best, inter / (space.area + foot.area - inter))
            out.append(1 if best >= 0.3 else (0 if not touched else -1))
        return out


def day_spaces(day_dir, fixtures, teacher, size):
    """Patches of the unannotated frames of a camera whose geometry an annotated frame gives."""
    excluded = annotated_stems(fixtures)
    frames = sorted(p for p in Path(day_dir).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    geometry = next((x for x in sorted(Path(fixtures).rglob("bounding_boxes/*.xml")) if x.stem in {f.stem for f in frames}), None)
    if geometry is None:
        raise SystemExit(f"train-space-classifier: no annotation gives the spaces of {day_dir}")
    polys = pklot_polygons(geometry)
    out, counts = [], [0, 0, 0]
    for f in frames:
        if f.stem in excluded:
            continue
        img = rgb(f)
        boxes, scores = teacher.boxes(img)
        for poly, label in zip(polys, teacher.labels(polys, boxes, scores)):
            counts[label] += 1
            if label >= 0:
                out.append((space_patch.cut_u8(img, poly, 2 * size), label))
    log(f"{day_dir}: {len(polys)} spaces from {geometry.name} (geometry only), "
        f"{len(frames) - sum(f.stem in excluded for f in frames)} frames: "
        f"{counts[1]} occupied, {counts[0]} free, {counts[-1]} left out")
    return out


# ---------------------------------------------------------------- model


class SpaceClassifier(torch.nn.Module):
    """YOLOv5n's backbone; mean and max of its stride-16 and stride-32 maps; one linear layer."""

    TAPS = (6, 9)

    def __init__(self, backbone, channels):
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Linear(2 * channels, 1)

    def forward(self, x):
        feats = []
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i in self.TAPS:
                feats.append(x.mean((2, 3)))
                feats.append(x.amax((2, 3)))
        return self.head(torch.cat(feats, 1))[:, 0]


def backbone(weights):
    from yolov5.models.experimental import attempt_load

    model = attempt_load(weights, device="cpu", inplace=True, fuse=True)
    layers = model.model[:10]
    for p in layers.parameters():
        p.requires_grad_(True)  # attempt_load freezes them for inference
    with torch.no_grad():
        probe = torch.zeros(1, 3, 64, 64)
        channels = 0
        for i, layer in enumerate(layers):
            probe = layer(probe)
            if i in SpaceClassifier.TAPS:
                channels += probe.shape[1]
    return layers, channels


# ---------------------------------------------------------------- training


def augment(patch, size, rng):
    """One random version of a patch as another lot, camera, scale and light would show it."""
    h, w = patch.shape[:2]
    keep = rng.uniform(0.7, 1.0)
    cw, ch = max(2, int(w * keep)), max(2, int(h * keep))
    x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    p = patch[y0:y0 + ch, x0:x0 + cw]
    low = int(rng.integers(12, int(1.5 * size) + 1))
    p = cv2.resize(p, (low, low), interpolation=cv2.INTER_AREA)
    p = cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25:
        p = cv2.GaussianBlur(p, (3, 3), rng.uniform(0.3, 1.2))
    p = np.rot90(p, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        p = p[:, ::-1]
    p = p.astype(np.float32)
    if rng.random() < 0.2:
        p = np.repeat(p.mean(2, keepdims=True), 3, 2)
    else:
        p = p * rng.uniform(0.85, 1.15, size=3)
    p = p * rng.uniform(0.4, 1.4) + rng.uniform(-30, 30)
    p = 255 * (np.clip(p, 0, 255) / 255) ** rng.uniform(0.7, 1.6)
    if rng.random() < 0.3:
        p = p + rng.normal(0, rng.uniform(2, 8), p.shape)
    return np.clip(p, 0, 255).astype(np.uint8)


def batches(data, size, rng, batch):
    order = rng.permutation(len(data))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        x = np.stack([augment(data[j][0], size, rng) for j in idx])
        y = np.array([data[j][1] for j in idx], np.float32)
        yield torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255), torch.from_numpy(y)


def train(net, data, size, epochs, seed, batch=64):
    rng = np.random.default_rng(seed)
    steps = epochs * ((len(data) + batch - 1) // batch)
    opt = torch.optim.AdamW(
        [{"params": net.backbone.parameters(), "lr": 3e-4}, {"params": net.head.parameters(), "lr": 3e-3}],
        weight_decay=1e-4,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[3e-4, 3e-3], total_steps=steps, pct_start=0.15)
    net.train()
    for epoch in range(epochs):
        t0, total = time.time(), 0.0
        for x, y in batches(data, size, rng, batch):
            # Soft targets (0.025 / 0.975): the teacher's labels and CNRPark's are not perfect.
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y * 0.95 + 0.025)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(data):.4f} ({time.time() - t0:.0f} s)")
    net.eval()
    return net


def portable(path):
    """Rewrites a TorchScript archive without its debug records. They hold the source files'
    absolute paths (this checkout's, this virtualenv's), so without them the same data gives the
    same file wherever it is trained; libtorch loads and runs the archive the same without them.
    The archive's serialization id is then derived from what is left."""
    with zipfile.ZipFile(path) as z:
        records = [(i.filename, z.read(i)) for i in z.infolist() if not i.filename.endswith(".debug_pkl")]
    digest = hashlib.sha256()
    for name, data in records:
        if not name.endswith("/.data/serialization_id"):
            digest.update(name.encode() + b"\0" + data)
    serial = str(int(digest.hexdigest(), 16))[:40].encode()
    tmp = path + ".portable"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
        for name, data in records:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            out.writestr(info, serial if name.endswith("/.data/serialization_id") else data)
    os.replace(tmp, path)


def main():
    here = Path(__file__).resolve().parent.parent
    shared = here.parent / "shared"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(here / "models/space-classifier.torchscript"))
    ap.add_argument("--weights", default=str(shared / "models/yolov5n.pt"))
    ap.add_argument("--detector", default=str(here / "models/yolov5n.torchscript"))
    ap.add_argument("--cnrpark", default=str(shared / "fixtures/patches/cnrpark"))
    ap.add_argument("--day", default=str(shared / "fixtures/pklot/day-2013-02-24"))
    ap.add_argument("--fixtures", default=str(shared / "fixtures"), help="annotated frames under it are never trained on")
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="fixed, so that the result is the same on any machine")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    t0 = time.time()

    teacher = Teacher(args.detector)
    data = cnrpark(args.cnrpark)
    log(f"{args.cnrpark}: {len(data)} patches, {sum(y for _, y in data)} busy ({time.time() - t0:.0f} s)")
    data += day_spaces(args.day, args.fixtures, teacher, args.size)
    log(f"data ready ({time.time() - t0:.0f} s)")
    del teacher

    layers, channels = backbone(args.weights)
    net = train(SpaceClassifier(layers, channels), data, args.size, args.epochs, args.seed)

    example = torch.zeros(2, 3, args.size, args.size)
    with torch.no_grad():
        traced = torch.jit.trace(net, example, check_trace=False)
        assert traced(torch.zeros(5, 3, args.size, args.size)).shape == (5,)
    config = {
        "kind": "space-classifier",
        "input_size": args.size,
        "context": space_patch.CONTEXT,
        "output": "logit",
        "trained_on": ["CNRPark (Amato et al. 2016, 2017)", "PKLot UFPR05 2013-02-24, unannotated frames, labelled by YOLOv5n"],
    }
    tmp = args.out + ".tmp"
    traced.save(tmp, _extra_files={"config.txt": json.dumps(config)})
    portable(tmp)
    reloaded = torch.jit.load(tmp)
    probe = torch.rand(3, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(reloaded(probe), traced(probe)), "the archive without debug records answers differently"
    os.replace(tmp, args.out)
    digest = hashlib.sha256(Path(args.out).read_bytes()).hexdigest()[:16]
    log(f"wrote {args.out} ({len(data)} patches, {time.time() - t0:.0f} s, sha256 {digest}…)")


if __name__ == "__main__":
    main()
