"""Random-weight reference networks for the import parity test, saved as published files are.

Usage: .venv/bin/python import_parity.py <out-dir> <arch> <size> [--legacy]
  arch: se_resnext50_32x4d (Cadene's pretrainedmodels SENet: sbir_py.reference_nets, layer for layer as
        senet.py) or resnet50 (torchvision.models.resnet50).
Writes <out-dir>/<arch>.pth (torch.save of the state dict, classifier head included, as published;
--legacy: the pre-1.6 format Cadene's files use), <out-dir>/<arch>.input.bin (float32 NCHW batch of 2)
and <out-dir>/<arch>.pooled.bin (float32 [2, 2048]: global-average-pooled features in eval mode).
"""
import os
import sys

import torch
import torch.nn as nn

from sbir_py.reference_nets import SENet  # Cadene's SE-ResNeXt layout, shared with the parity test


def build(arch):
    if arch == "se_resnext50_32x4d":
        net = SENet([3, 4, 6, 3], num_classes=1000)  # ReLU SE, no domain input: the published network
        return net, lambda x: net.features(x, None)
    if arch == "resnet50":
        import torchvision

        net = torchvision.models.resnet50()

        def pooled(x):
            x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
            x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
            return x.mean(dim=(2, 3))

        return net, pooled
    raise SystemExit(f"unknown arch {arch}")


def randomize_bn(net, g):
    # Non-trivial BatchNorm statistics, so eval mode exercises every imported buffer.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=g)
            m.bias.data = 0.1 * torch.randn(c, generator=g)
            m.running_mean.data = 0.1 * torch.randn(c, generator=g)
            m.running_var.data = 0.5 + torch.rand(c, generator=g)
            m.num_batches_tracked.fill_(1000)


if __name__ == "__main__":
    out, arch, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    net, pooled = build(arch)
    randomize_bn(net, g)
    net.eval()
    x = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    with torch.no_grad():
        feats = pooled(x)
    os.makedirs(out, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(out, f"{arch}.pth"),
               _use_new_zipfile_serialization="--legacy" not in sys.argv)
    x.numpy().astype("float32").tofile(os.path.join(out, f"{arch}.input.bin"))
    feats.numpy().astype("float32").tofile(os.path.join(out, f"{arch}.pooled.bin"))
