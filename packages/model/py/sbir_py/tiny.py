"""resnet-tiny in PyTorch, as @sbir/model builds it (backbones.ts): 3x3/2 stem conv + BN + ReLU, one
basic block per stage at width * (1, 2, 4, 8) planes (stride 1, 2, 2, 2; 1x1 conv + BN shortcut where the
shape changes), optional SE / DASE on the residual branch before the add (DASE in stages 1-3, as
the authors), global average pool, Linear embedding. The attention block is the reference SEModule
(sbir_py.reference_nets), the one the parity tests check."""
import torch.nn as nn
import torch.nn.functional as F

from sbir_py.reference_nets import SEModule


class BasicBlock(nn.Module):
    def __init__(self, cin, c, stride, attn, domain_aware, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        # reduction 16, hidden at least 1 channel (width 16: 16 // 16 = 1)
        self.attn = SEModule(c, min(16, c), act, domain_aware) if attn != "none" else None
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
    """attn: 'none' | 'se' | 'dase'; act: the SE hidden activation ('sigmoid', the authors', or 'relu')."""

    def __init__(self, attn="none", width=32, emb=64, act="sigmoid"):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, cin = [], width
        for s in range(4):
            c = width * 2**s
            blocks.append(BasicBlock(cin, c, 1 if s == 0 else 2, attn, attn == "dase" and s < 3, act))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.embed = nn.Linear(cin, emb)

    def features(self, x, domain):
        x = F.relu(self.bn(self.stem(x)))
        for b in self.blocks:
            x = b(x, domain)
        return x.mean(dim=(2, 3))

    def forward(self, x, domain):
        return self.embed(self.features(x, domain))
