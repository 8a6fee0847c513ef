"""A detector that fails on purpose, for the test that proves a failing model cannot wedge the
analyses: it wraps a YOLO TorchScript export and raises on any batch holding a dark frame (mean
below 0.05 of full scale), answering like the wrapped model otherwise.

    python tests/tools/faulty_model.py models/yolov5n.torchscript OUT.torchscript
"""

import sys
import zipfile

import torch


class Faulty(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor):
        if bool((x.mean(dim=[1, 2, 3]) < 0.05).any()):
            raise RuntimeError("faulty model: a dark frame")
        return self.inner(x)


def main():
    src, out = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(src) as z:
        config = next(z.read(n) for n in z.namelist() if n.endswith("/extra/config.txt"))
    scripted = torch.jit.script(Faulty(torch.jit.load(src)))
    scripted.save(out, _extra_files={"config.txt": config})


if __name__ == "__main__":
    main()
