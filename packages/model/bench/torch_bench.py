"""PyTorch CPU peer of model-bench.ts. Default: the same resnet-tiny (sbir_py.tiny: 3x3/2 stem, one basic
block per stage at width x 1/2/4/8 planes, BatchNorm, optional SE/DASE on the residual branch, global
average pool, Linear -> 64 embedding, softmax classifier over 80 classes), Adam, random uint8 images
normalised on the fly. --arch se_resnext50_32x4d (paper scale): Cadene's SE-ResNeXt-50
(sbir_py.reference_nets), Linear 2048->512 embedding, softmax classifier. Prints one JSON line. Run
with the project's .venv (requirements.txt: PyTorch 2.x from PyPI)."""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from sbir_py.reference_nets import SENet
from sbir_py.tiny import TinyResNet


class PaperNet(nn.Module):
    """Cadene's SE-ResNeXt-50 32x4d (reference_nets.SENet) + Linear 2048 -> 512 embedding."""

    def __init__(self, block):
        super().__init__()
        self.body = SENet((3, 4, 6, 3), act="sigmoid", dase_stages=(1, 2, 3) if block == "dase" else ())
        self.embed = nn.Linear(2048, 512)

    def forward(self, x, domain):
        return self.embed(self.body.features(x, domain))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed steps at least")
    ap.add_argument("--seconds", type=float, default=4.0, help="and until this many seconds have passed")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--block", default="none", choices=["none", "se", "dase"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--arch", default="resnet-tiny", choices=["resnet-tiny", "se_resnext50_32x4d"])
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--width", type=int, default=32, help="resnet-tiny stem width (the demo: 16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.arch == "resnet-tiny":
        net, emb = TinyResNet(a.block, width=a.width), 64
    else:
        net, emb = PaperNet(a.block), 512
    clf = nn.Linear(emb, a.classes)
    params = list(net.parameters()) + list(clf.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (a.batch, a.size, a.size, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, a.classes, (a.batch,), generator=g)
    domain = (torch.arange(a.batch) % 2).float()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)

    def step():
        x = (images.permute(0, 3, 1, 2).float() - mean) / std
        if a.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(clf(net(x, domain)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    c0 = time.process_time()
    steps = 0
    while steps < a.steps or time.perf_counter() - t0 < a.seconds:
        step()
        steps += 1
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"engine": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                      "arch": a.arch, "width": a.width, "block": a.block, "batch": a.batch, "steps": steps,
                      "seconds": dt, "cpuSeconds": cpu,
                      "channelsLast": a.channels_last, "imagesPerSec": steps * a.batch / dt,
                      "imagesPerCpuSec": steps * a.batch / cpu, "mkldnn": torch.backends.mkldnn.is_available()}))


if __name__ == "__main__":
    main()
