"""One demo cell (experiments/demo.yaml) written in PyTorch for the whole-cell bench (demo-cell.ts).

Mirrors @sbir/trainer's cell on the same prepared shards: it reads data/emoji-64's Arrow shards
(pyarrow), trains resnet-tiny width 16 (sbir_py.tiny, SE or DASE) with balanced domains (32 sketches +
32 photos a step, each pass reshuffled), the `crop-flip` pipeline (random resized crop, area 0.6-1,
aspect 3/4-4/3 log-uniform, flip 0.5, bilinear with corner-aligned boxes as tf.image.cropAndResize;
ImageNet mean/std), MEMS (m = 2 annealed over half the steps) or softmax, Adam lr 0.002 with L2
weight decay 1e-4 on the network only, constant-then-linear schedule, a metrics line every 10 steps,
and at every epoch end (100 steps) an evaluation on all queries x 1500 seeded gallery photos plus an
atomic checkpoint (model, loss, optimizer). The final evaluation embeds every query and gallery image
with flips (distance = min over the four combinations), ranks by squared Euclidean distance (mAP@all,
P@200) and fits the 64-bit centre hash (500 steps) for the Hamming mAP.

Not mirrored (the TypeScript cell does them, the profile counts them): retrieval.json thumbnails,
embeddings.json, distance statistics, status.json updates. Shards are read into memory once (what a
PyTorch user's in-memory Dataset does), where ours streams them every pass.

Prints one JSON line: seconds by phase, images/s, mAP@all. Run with .venv/bin/python.
"""
import argparse
import json
import os
import time

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn
import torch.nn.functional as F

from sbir_py.tiny import TinyResNet

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


class Timer:
    """Wall seconds by phase (the profile of the cell)."""

    def __init__(self):
        self.seconds = {}

    def add(self, phase, t0):
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0


def read_shards(folder):
    """Every row of every shard: images uint8 [N, 64, 64, 3], labels, domains (0 sketch, 1 photo), split."""
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    tables = []
    for shard in manifest["shards"]:
        with pa.memory_map(os.path.join(folder, shard["file"])) as src:
            tables.append(pa.ipc.open_file(src).read_all())
    t = pa.concat_tables(tables)
    size = manifest["size"]
    images = np.frombuffer(b"".join(t.column("image").to_pylist()), dtype=np.uint8)
    rows = {
        "images": torch.from_numpy(images.reshape(-1, size, size, 3).copy()),
        "labels": torch.tensor(t.column("category_index").to_numpy(), dtype=torch.long),
        "domains": torch.tensor([d == "photo" for d in t.column("domain").to_pylist()], dtype=torch.float32),
        "split": np.array(t.column("split").to_pylist()),
    }
    return manifest, rows


def crop_flip(images, gen):
    """The `crop-flip` pipeline on a uint8 NHWC batch -> normalised float NCHW."""
    n, size = images.shape[0], images.shape[1]
    x = images.permute(0, 3, 1, 2).float()
    theta = torch.zeros(n, 2, 3)
    for i in range(n):  # torchvision RandomResizedCrop sampling: 10 tries, then the whole image
        w = h = 1.0
        for _ in range(10):
            area = float(torch.empty(1).uniform_(0.6, 1.0, generator=gen))
            ratio = float(torch.exp(torch.empty(1).uniform_(np.log(3 / 4), np.log(4 / 3), generator=gen)))
            cw, ch = (area * ratio) ** 0.5, (area / ratio) ** 0.5
            if cw <= 1 and ch <= 1:
                w, h = cw, ch
                break
        x0 = float(torch.rand(1, generator=gen)) * (1 - w)
        y0 = float(torch.rand(1, generator=gen)) * (1 - h)
        flip = -1.0 if float(torch.rand(1, generator=gen)) < 0.5 else 1.0
        # normalised coordinates in [-1, 1], corners aligned (cropAndResize's box semantics)
        theta[i, 0, 0], theta[i, 0, 2] = w * flip, 2 * x0 + w - 1
        theta[i, 1, 1], theta[i, 1, 2] = h, 2 * y0 + h - 1
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=True)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return (x - MEAN) / STD


def normalise(images):
    return (images.permute(0, 3, 1, 2).float() - MEAN) / STD


class Head(nn.Module):
    """MEMS (authors' models/losses.py) or softmax over a linear classifier."""

    def __init__(self, loss, classes, dim, margin, anneal):
        super().__init__()
        self.loss, self.margin, self.anneal = loss, margin, anneal
        if loss == "mems":
            c = torch.randn(classes, dim)
            self.centres = nn.Parameter(c / c.norm(dim=1, keepdim=True))
        else:
            self.classifier = nn.Linear(dim, classes)

    def forward(self, f, y, step):
        if self.loss != "mems":
            return F.cross_entropy(self.classifier(f), y)
        m = 1 + (self.margin - 1) * min(max(step / self.anneal, 0.0), 1.0)
        d2 = torch.cdist(f, self.centres).pow(2)
        factor = 1 + F.one_hot(y, self.centres.shape[0]).float() * (m * m - 1)
        return F.cross_entropy(-d2 * factor, y)


@torch.no_grad()
def embed(net, rows, idx, flip, batch=64):
    net.eval()
    out, flipped = [], []
    for s in range(0, len(idx), batch):
        b = idx[s : s + batch]
        x, d = normalise(rows["images"][b]), rows["domains"][b]
        out.append(net(x, d))
        if flip:
            flipped.append(net(torch.flip(x, dims=[3]), d))
    net.train()
    return torch.cat(out), (torch.cat(flipped) if flip else None)


def average_precision(dist, ql, gl, k=200):
    """mAP@all and P@k, ties by gallery index (stable sort), as @sbir/model's metrics."""
    order = np.argsort(dist, axis=1, kind="stable")
    rel = gl[order] == ql[:, None]
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    ap = (hits / ranks * rel).sum(1) / np.maximum(rel.sum(1), 1)
    return float(ap.mean()), float(hits[:, k - 1].mean() / k)


def sq_dist(a, b):
    return torch.cdist(a, b).pow(2).numpy()


def centre_hash(prototypes, bits, steps, seed):
    """tester.py HashTester.train_mapping: a spectral-normalised Linear decorrelating the centres' codes."""
    torch.manual_seed(seed)
    lin = nn.utils.parametrizations.spectral_norm(nn.Linear(prototypes.shape[1], bits))
    opt = torch.optim.Adam(lin.parameters(), lr=1e-3)
    for step in range(steps):
        for g in opt.param_groups:  # lr decayed linearly to 0, updated every 100 steps
            g["lr"] = 1e-3 * (1 - (step // 100 * 100) / steps)
        c = lin(prototypes)
        z = c / (c.norm(dim=1, keepdim=True).detach() + 1e-8)
        sim = z @ z.t()
        k = sim.shape[0]
        loss = (sim.sum() - sim.diagonal().sum()) / (k * (k - 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return lambda f: (lin(f) > 0).numpy()


def evaluate(net, rows, q_idx, g_idx, flip):
    q, qf = embed(net, rows, q_idx, flip)
    g, gf = embed(net, rows, g_idx, flip)
    dist = sq_dist(q, g)
    if flip:
        for a, b in ((q, gf), (qf, g), (qf, gf)):
            dist = np.minimum(dist, sq_dist(a, b))
    ql, gl = rows["labels"][q_idx].numpy(), rows["labels"][g_idx].numpy()
    m, p = average_precision(dist, ql, gl)
    return m, p, (q, qf, g, gf, ql, gl)


def save_checkpoint(path, state):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="cell folder: metrics.jsonl, last.pt, eval.json")
    ap.add_argument("--block", default="se", choices=["se", "dase"])
    ap.add_argument("--loss", default="mems", choices=["mems", "softmax"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--steps-per-epoch", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--epoch-gallery", type=int, default=1500)
    a = ap.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    timer = Timer()
    os.makedirs(a.out, exist_ok=True)

    t0 = time.perf_counter()
    manifest, rows = read_shards(a.data)
    split = rows["split"]
    train_sk = np.flatnonzero((split == "train") & (rows["domains"].numpy() == 0))
    train_ph = np.flatnonzero(rows["domains"].numpy() == 1)  # photosInTrain: every photo trains
    q_idx = np.flatnonzero(split == "query")
    g_idx = np.flatnonzero(split == "gallery")
    timer.add("read shards", t0)

    classes = len(manifest["classes"])
    net = TinyResNet(a.block, width=a.width, emb=64)
    head = Head(a.loss, classes, 64, margin=2.0, anneal=a.steps / 2)
    opt = torch.optim.Adam(
        [{"params": net.parameters(), "weight_decay": 1e-4}, {"params": head.parameters(), "weight_decay": 0}],
        lr=0.002,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s / a.steps <= 0.5 else 2 * (1 - s / a.steps))
    gen = torch.Generator().manual_seed(a.seed)
    half = a.batch // 2
    metrics = open(os.path.join(a.out, "metrics.jsonl"), "a")
    step, interval, epoch_evals = 0, [], []
    while step < a.steps:
        t0 = time.perf_counter()
        sk = train_sk[torch.randperm(len(train_sk), generator=gen).numpy()]
        ph = train_ph[torch.randperm(len(train_ph), generator=gen).numpy()]
        timer.add("batches", t0)
        for i in range(min(len(sk) // (a.batch - half), len(ph) // half)):
            t0 = time.perf_counter()
            b = np.concatenate([sk[i * (a.batch - half) : (i + 1) * (a.batch - half)], ph[i * half : (i + 1) * half]])
            images, labels, domains = rows["images"][b], rows["labels"][b], rows["domains"][b]
            timer.add("batches", t0)
            t0 = time.perf_counter()
            x = crop_flip(images, gen)
            timer.add("augmentation", t0)
            t0 = time.perf_counter()
            loss = head(net(x, domains), labels, step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            interval.append(loss.item())
            timer.add("training step", t0)
            t0 = time.perf_counter()
            if step % 10 == 0:
                lr = sched.get_last_lr()[0]
                line = {"kind": "step", "step": step, "loss": sum(interval) / len(interval), "lr": lr}
                metrics.write(json.dumps(line) + "\n")
                metrics.flush()
                interval = []
            timer.add("logging", t0)
            if step % a.steps_per_epoch == 0 or step == a.steps:
                t0 = time.perf_counter()
                sample = torch.randperm(len(g_idx), generator=torch.Generator().manual_seed(7919))[: a.epoch_gallery]
                m, p, _ = evaluate(net, rows, q_idx, g_idx[np.sort(sample.numpy())], flip=False)
                epoch_evals.append(round(m, 5))
                metrics.write(json.dumps({"kind": "epoch", "step": step, "mAP@all": m, "P@200": p}) + "\n")
                metrics.flush()
                timer.add("epoch evaluations", t0)
                t0 = time.perf_counter()
                state = {"model": net.state_dict(), "loss": head.state_dict(), "optimizer": opt.state_dict()}
                state["step"] = step
                save_checkpoint(os.path.join(a.out, "last.pt"), state)
                timer.add("checkpoints", t0)
            if step >= a.steps:
                break
    metrics.close()
    train_end = time.perf_counter()

    t0 = time.perf_counter()
    m, p, (q, qf, g, gf, ql, gl) = evaluate(net, rows, q_idx, g_idx, flip=True)
    timer.add("final evaluation", t0)
    t0 = time.perf_counter()
    prototypes = head.centres.detach() if a.loss == "mems" else None
    if prototypes is None:  # softmax: the photo class means (the gallery photos are training photos)
        gm = (g + gf) / 2
        prototypes = torch.stack([gm[torch.from_numpy(gl == c)].mean(0) for c in np.unique(gl)])
    encode = centre_hash(prototypes, 64, 500, a.seed)
    qc, gc = encode((q + qf) / 2), encode((g + gf) / 2)
    hamming = (qc[:, None, :] != gc[None, :, :]).sum(-1).astype(np.float64)
    hm, _ = average_precision(hamming, ql, gl)
    timer.add("centre hash", t0)
    result = {"mAP@all": m, "P@200": p, "hamming": {"bits": 64, "mAP@all": hm}, "epochMapAll": epoch_evals}
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump(result, f)
    total = time.perf_counter() - started
    train_loop = train_end - started - timer.seconds["read shards"]
    print(json.dumps({
        "engine": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "block": a.block, "loss": a.loss, "seed": a.seed, "steps": step, "batch": a.batch,
        "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
        "trainLoopSeconds": round(train_loop, 3), "totalSeconds": round(total, 3),
        "imagesPerSecStep": round(step * a.batch / timer.seconds["training step"], 1),
        **result,
    }))


if __name__ == "__main__":
    main()
