"""PyTorch CPU reference for model-bench.ts. Default: the same resnet-tiny (3x3/2 stem conv 32, one basic block
per stage at 32/64/128/256 planes, BatchNorm, optional SE/DASE on the residual branch, global average
pool, Linear 256->64 embedding, softmax classifier over 80 classes), Adam, random uint8 images
normalised on the fly. --arch se_resnext50_32x4d (paper scale): Cadene's SE-ResNeXt-50 as written out in
test/py/reference_nets.py, Linear 2048->512 embedding, softmax classifier. Prints one JSON line. Run with
Debian's python3-torch: /usr/bin/python3."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SE(nn.Module):
    def __init__(self, c, r=16, domain_aware=False, act="sigmoid"):
        super().__init__()
        h = max(1, c // r)
        self.domain_aware = domain_aware
        self.act = torch.sigmoid if act == "sigmoid" else F.relu
        self.fc1 = nn.Linear(c, h)
        self.fc2 = nn.Linear(h + int(domain_aware), c)

    def forward(self, x, domain):
        s = x.mean(dim=(2, 3))
        s = self.fc1(s)
        s = self.act(s)  # the same hidden activation for SE and DASE (the authors' sigmoid by default)
        if self.domain_aware:
            s = torch.cat([s, domain.view(-1, 1)], dim=1)
        s = torch.sigmoid(self.fc2(s))
        return x * s[:, :, None, None]


class Basic(nn.Module):
    def __init__(self, cin, c, stride, attn, domain_aware):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.attn = SE(c, domain_aware=domain_aware) if attn != "none" else None
        self.short = None
        if stride != 1 or cin != c:
            self.short = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x, domain):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.attn is not None:
            y = self.attn(y, domain)
        return F.relu(y + (x if self.short is None else self.short(x)))


class TinyResNet(nn.Module):
    def __init__(self, attn="none", width=32, emb=64):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, cin = [], width
        for s in range(4):
            c = width * 2 ** s
            blocks.append(Basic(cin, c, 1 if s == 0 else 2, attn, attn == "dase" and s < 3))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.embed = nn.Linear(cin, emb)

    def forward(self, x, domain):
        x = F.relu(self.bn(self.stem(x)))
        for b in self.blocks:
            x = b(x, domain)
        return self.embed(x.mean(dim=(2, 3)))


class PaperNet(nn.Module):
    """Cadene's SE-ResNeXt-50 32x4d (reference_nets.SENet) + Linear 2048 -> 512 embedding."""

    def __init__(self, block):
        super().__init__()
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "py"))
        from reference_nets import SENet

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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.arch == "resnet-tiny":
        net, emb = TinyResNet(a.block), 64
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
                      "arch": a.arch, "block": a.block, "batch": a.batch, "steps": steps, "seconds": dt, "cpuSeconds": cpu,
                      "channelsLast": a.channels_last, "imagesPerSec": steps * a.batch / dt,
                      "imagesPerCpuSec": steps * a.batch / cpu, "mkldnn": torch.backends.mkldnn.is_available()}))


if __name__ == "__main__":
    main()
