"""PyTorch side of gpu-check.ts: the paper net (Cadene's SE-ResNeXt-50 32x4d with ReLU SE, as published,
reference_nets.SENet) + Linear 2048 -> 512 embedding + linear softmax classifier, trained from the same
initial weights as the tensorflow-gpu run.

  gpu_check.py init  --dir D --size S --per-domain N --classes K --seed X
      writes D/init.pth (the backbone's state dict, Cadene's names: model:import reads it) and one
      fixed batch: D/images.u8 (uint8 [2N, S, S, 3], sketches then photos), D/labels.i32, D/batch.json
  gpu_check.py train --dir D --checkpoint C --steps T --lr L --device cuda|cpu [--threads n]
      loads init.pth, and the embedding and classifier from C (the tensorflow-gpu run's step-0
      checkpoint, sbir-tensors format: tensors.json + tensors.bin, linear weights [in, out]), trains T
      Adam steps on the batch (train mode, no weight decay) and prints one JSON line: the loss of every
      step and the time of the steps after the first two.
Run with .venv/bin/python (PyPI torch; the CUDA build on a GPU machine).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from sbir_py.reference_nets import SENet  # Cadene's layout, shared with the parity tests

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def init(a):
    torch.manual_seed(a.seed)
    net = SENet((3, 4, 6, 3), act="relu", num_classes=1000)
    os.makedirs(a.dir, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(a.dir, "init.pth"))
    g = torch.Generator().manual_seed(a.seed + 1)
    n = 2 * a.per_domain
    images = torch.randint(0, 256, (n, a.size, a.size, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, a.classes, (n,), dtype=torch.int32, generator=g)
    with open(os.path.join(a.dir, "images.u8"), "wb") as f:
        f.write(images.numpy().tobytes())
    with open(os.path.join(a.dir, "labels.i32"), "wb") as f:
        f.write(labels.numpy().astype("<i4").tobytes())
    batch = {"n": n, "size": a.size, "classes": a.classes, "domains": [0] * a.per_domain + [1] * a.per_domain}
    with open(os.path.join(a.dir, "batch.json"), "w") as f:
        json.dump(batch, f)


def read_tensors(ckpt, names):
    """The named float32 tensors of an sbir-tensors directory (tensorfile.ts)."""
    with open(os.path.join(ckpt, "tensors.json")) as f:
        manifest = json.load(f)
    by_name = {t["name"]: t for t in manifest["tensors"]}
    raw = open(os.path.join(ckpt, manifest["dataFile"]), "rb").read()
    out = {}
    for name in names:
        t = by_name.get(name)
        if t is None:
            sys.exit(f"{ckpt}: no tensor {name} (has {', '.join(sorted(by_name)[:5])}, ...)")
        count = 1
        for d in t["shape"]:
            count *= d
        data = torch.frombuffer(bytearray(raw[t["offset"]: t["offset"] + 4 * count]), dtype=torch.float32)
        out[name] = data.reshape(t["shape"]).clone()
    return out


def train(a):
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"torch {torch.__version__}: CUDA is not available (a CPU-only build, or no driver)")
    with open(os.path.join(a.dir, "batch.json")) as f:
        batch = json.load(f)
    n, s, k = batch["n"], batch["size"], batch["classes"]
    images = torch.frombuffer(bytearray(open(os.path.join(a.dir, "images.u8"), "rb").read()), dtype=torch.uint8)
    labels = torch.frombuffer(bytearray(open(os.path.join(a.dir, "labels.i32"), "rb").read()), dtype=torch.int32)
    images = images.reshape(n, s, s, 3).to(device)
    labels = labels.long().to(device)

    body = SENet((3, 4, 6, 3), act="relu", num_classes=1000)
    body.load_state_dict(torch.load(os.path.join(a.dir, "init.pth")))
    embed, clf = nn.Linear(2048, 512), nn.Linear(512, k)
    head = read_tensors(a.checkpoint, ["model/head.embed.weight", "model/head.embed.bias",
                                       "loss/loss.classifier.weight", "loss/loss.classifier.bias"])
    with torch.no_grad():  # ours: linear weights [in, out]; torch: [out, in]
        embed.weight.copy_(head["model/head.embed.weight"].t())
        embed.bias.copy_(head["model/head.embed.bias"])
        clf.weight.copy_(head["loss/loss.classifier.weight"].t())
        clf.bias.copy_(head["loss/loss.classifier.bias"])
    body, embed, clf = body.to(device).train(), embed.to(device), clf.to(device)
    params = list(body.parameters()) + list(embed.parameters()) + list(clf.parameters())
    opt = torch.optim.Adam(params, lr=a.lr, weight_decay=0.0)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255

    def step():
        x = (images.permute(0, 3, 1, 2).float() - mean) / std
        loss = F.cross_entropy(clf(embed(body.features(x, None))), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    losses, t0 = [], None
    for i in range(a.steps):
        if i == 2:  # the first two steps include cuDNN's algorithm search and allocations
            sync()
            t0 = time.perf_counter()
        losses.append(step().item())
    sync()
    timed = a.steps - 2
    seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    print(json.dumps({
        "engine": "pytorch",
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if a.device == "cuda" else None,
        "device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu",
        "losses": losses,
        "timedSteps": timed,
        "seconds": seconds,
        "imagesPerSec": timed * n / seconds if seconds > 0 else None,
    }))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init")
    i.add_argument("--dir", required=True)
    i.add_argument("--size", type=int, default=224)
    i.add_argument("--per-domain", type=int, default=22)
    i.add_argument("--classes", type=int, default=100)
    i.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("--dir", required=True)
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    init(a) if a.cmd == "init" else train(a)


if __name__ == "__main__":
    main()
