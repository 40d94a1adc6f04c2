"""Random-weight reference networks for the import parity test, saved as published files are.

Usage: python3 import_parity.py <out-dir> <arch> <size> [--legacy]
  arch: se_resnext50_32x4d (Cadene's pretrainedmodels SENet, defined below in plain PyTorch, layer for
        layer as senet.py) or resnet50 (torchvision.models.resnet50).
Writes <out-dir>/<arch>.pth (torch.save of the state dict, classifier head included, as published;
--legacy: the pre-1.6 format Cadene's files use), <out-dir>/<arch>.input.bin (float32 NCHW batch of 2)
and <out-dir>/<arch>.pooled.bin (float32 [2, 2048]: global-average-pooled features in eval mode).
"""
import collections
import math
import os
import sys

import torch
import torch.nn as nn


class SEModule(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        s = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * s


class SEResNeXtBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, groups, reduction, stride=1, downsample=None, base_width=4):
        super().__init__()
        width = math.floor(planes * (base_width / 64)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False, stride=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se_module = SEModule(planes * 4, reduction=reduction)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.se_module(out) + residual)


class SENet(nn.Module):
    """Cadene's SENet with input_3x3=False, downsample_kernel_size=1 (the SE-ResNeXt variants)."""

    def __init__(self, layers, groups=32, reduction=16, inplanes=64, num_classes=1000):
        super().__init__()
        self.inplanes = inplanes
        self.layer0 = nn.Sequential(collections.OrderedDict([
            ("conv1", nn.Conv2d(3, inplanes, kernel_size=7, stride=2, padding=3, bias=False)),
            ("bn1", nn.BatchNorm2d(inplanes)),
            ("relu1", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ]))
        self.layer1 = self._make_layer(64, layers[0], groups, reduction)
        self.layer2 = self._make_layer(128, layers[1], groups, reduction, stride=2)
        self.layer3 = self._make_layer(256, layers[2], groups, reduction, stride=2)
        self.layer4 = self._make_layer(512, layers[3], groups, reduction, stride=2)
        self.last_linear = nn.Linear(512 * 4, num_classes)

    def _make_layer(self, planes, blocks, groups, reduction, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [SEResNeXtBottleneck(self.inplanes, planes, groups, reduction, stride, downsample)]
        self.inplanes = planes * 4
        layers += [SEResNeXtBottleneck(self.inplanes, planes, groups, reduction) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def pooled(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(x)))))
        return x.mean(dim=(2, 3))


def build(arch):
    if arch == "se_resnext50_32x4d":
        net = SENet([3, 4, 6, 3])
        return net, net.pooled
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
