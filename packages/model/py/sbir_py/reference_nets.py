"""Reference networks in PyTorch for the parity tests (packages/model/test/parity.test.ts).

Builds one architecture with random weights and randomised BatchNorm running statistics, runs a fixed
batch through it in eval mode and writes, into --out:
  manifest.json   {"tensors": [{"name", "shape", "file"}], "input", "domain", "features", "logits"}
  *.bin           each array as little-endian float32, row-major (PyTorch layouts: OIHW, [out, in])

Architectures:
  se_resnext50_32x4d, se_resnext101_32x4d  Cadene's SENet (pretrainedmodels/models/senet.py), written
      out below from its published structure: layer0 = 7x7/2 conv + BN + ReLU + 3x3/2 ceil-mode max-pool;
      SEResNeXtBottleneck (1x1 -> floor(planes * 4 / 64) * 32, grouped 3x3 with the stride, 1x1 ->
      planes * 4, SE after bn3 and before the residual add); 1x1 downsample; global average pool
      (Cadene's AvgPool2d(7) is that at 224 px); last_linear as the head.
      --block dase gives the authors' domain-aware SE (se_module.py: fc2 takes [hidden ; domain]) in
      stages 1-3; --act sigmoid their hidden activation (Cadene's published SE uses ReLU).
  resnet50  torchvision.models.resnet50 (v1.5), fc as the head.

Run from .venv (requirements.txt: torch, torchvision):
  .venv/bin/python -m sbir_py.reference_nets --arch ... --out DIR
"""
import argparse
import json
import math
import os
from collections import OrderedDict

import torch
import torch.nn as nn


class SEModule(nn.Module):
    def __init__(self, channels, reduction, act, domain_aware):
        super().__init__()
        hidden = channels // reduction
        self.domain_aware = domain_aware
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, padding=0)
        self.act = nn.ReLU(inplace=True) if act == 'relu' else nn.Sigmoid()
        self.fc2 = nn.Conv2d(hidden + (1 if domain_aware else 0), channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x, domain):
        s = self.act(self.fc1(x.mean((2, 3), keepdim=True)))
        if self.domain_aware:
            s = torch.cat([s, domain.view(-1, 1, 1, 1)], 1)
        return x * self.sigmoid(self.fc2(s))


class SEResNeXtBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, groups, reduction, stride, downsample, base_width, act, domain_aware):
        super().__init__()
        width = math.floor(planes * (base_width / 64)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False, stride=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se_module = SEModule(planes * 4, reduction, act, domain_aware)
        self.downsample = downsample

    def forward(self, x, domain):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se_module(self.bn3(self.conv3(out)), domain)
        return self.relu(out + residual)


class SENet(nn.Module):
    def __init__(self, layers, groups=32, reduction=16, base_width=4, act='relu', dase_stages=(), num_classes=10):
        super().__init__()
        self.inplanes = 64
        self.layer0 = nn.Sequential(OrderedDict([
            ('conv1', nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
            ('bn1', nn.BatchNorm2d(64)),
            ('relu1', nn.ReLU(inplace=True)),
            ('pool', nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ]))
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            units = []
            for b in range(blocks):
                downsample = None
                if b == 0 and (stride != 1 or self.inplanes != planes * 4):
                    downsample = nn.Sequential(
                        nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, padding=0, bias=False),
                        nn.BatchNorm2d(planes * 4),
                    )
                units.append(SEResNeXtBottleneck(
                    self.inplanes, planes, groups, reduction, stride if b == 0 else 1, downsample, base_width,
                    act, (i + 1) in dase_stages))
                self.inplanes = planes * 4
            setattr(self, f'layer{i + 1}', nn.ModuleList(units))
        self.last_linear = nn.Linear(512 * 4, num_classes)

    def features(self, x, domain):
        x = self.layer0(x)
        for i in range(1, 5):
            for unit in getattr(self, f'layer{i}'):
                x = unit(x, domain)
        return x.mean((2, 3))

    def head(self, f):
        return self.last_linear(f)


class TorchvisionNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        import torchvision
        self.net = torchvision.models.resnet50(weights=None, num_classes=num_classes)

    def features(self, x, domain):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def head(self, f):
        return self.net.fc(f)

    def state_dict(self, *a, **k):
        return OrderedDict((key[len('net.'):], v) for key, v in super().state_dict(*a, **k).items())


def build(arch, block, act, num_classes):
    if arch == 'resnet50':
        return TorchvisionNet(num_classes)
    layers = {'se_resnext50_32x4d': (3, 4, 6, 3), 'se_resnext101_32x4d': (3, 4, 23, 3)}[arch]
    return SENet(layers, act=act, dase_stages=(1, 2, 3) if block == 'dase' else (), num_classes=num_classes)


def randomise_batchnorm(model, gen):
    """Running statistics and affine parameters away from their defaults, so parity tests them."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean.data = torch.randn(c, generator=gen) * 0.1
            m.running_var.data = torch.rand(c, generator=gen) + 0.5


def write(out, name, t, entries):
    arr = t.detach().contiguous().to(torch.float32).numpy()
    fname = name.replace('/', '_') + '.bin'
    with open(os.path.join(out, fname), 'wb') as f:
        f.write(arr.astype('<f4').tobytes())
    entries.append({'name': name, 'shape': list(arr.shape), 'file': fname})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--arch', required=True, choices=['se_resnext50_32x4d', 'se_resnext101_32x4d', 'resnet50'])
    p.add_argument('--block', default='se', choices=['se', 'dase'])
    p.add_argument('--act', default='relu', choices=['relu', 'sigmoid'])
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = build(a.arch, a.block, a.act, a.classes)
    randomise_batchnorm(model, gen)
    model.eval()
    x = torch.randn(a.batch, 3, a.size, a.size, generator=gen)
    domain = torch.tensor([i % 2 for i in range(a.batch)], dtype=torch.float32)
    with torch.no_grad():
        feats = model.features(x, domain)
        logits = model.head(feats)
    os.makedirs(a.out, exist_ok=True)
    tensors = []
    for name, t in model.state_dict().items():
        if not name.endswith('num_batches_tracked'):
            write(a.out, name, t, tensors)
    extra = []
    for name, t in (('input', x), ('domain', domain), ('features', feats), ('logits', logits)):
        write(a.out, name, t, extra)
    manifest = {'arch': a.arch, 'block': a.block, 'act': a.act, 'torch': torch.__version__, 'tensors': tensors}
    manifest.update({e['name']: e for e in extra})
    with open(os.path.join(a.out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)


if __name__ == '__main__':
    main()
