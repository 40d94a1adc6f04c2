"""Checkpoint files for the importer tests, written by the libraries that publish them.

Usage: .venv/bin/python import_fixtures.py <out-dir> <kind>...
  torch        plain.pth (zip), legacy.pth (pre-1.6 format), nested.pth ({'state_dict': ..., 'epoch'}),
               evil.pth (a pickle GLOBAL posix.system that would create <out-dir>/PWNED), expected.json
  safetensors  model.safetensors (safetensors.numpy), expected-st.json
  h5           keras2.h5 (Keras 2 save_weights layout), keras3.weights.h5, expected-h5.json
  tiny-torch, tiny-st, tiny-h5   a whole backbone: <out-dir>/targets.json lists its tensors (name
               without `backbone.`, PyTorch shape, Keras shape); values come from numpy's seed-0 generator
               in that order (also in tiny-values.bin, float32, PyTorch layout), so every interpreter
               writes the same numbers: tiny.pth, tiny-legacy.pth, tiny-nested.pth ({'model': ...,
               'optimizer': ...}) / tiny.safetensors / tiny-keras2.h5, tiny-keras3.weights.h5
Values are drawn from a fixed seed; expected*.json holds every tensor as float32 values after the
importer's conversions (contiguous, row-major), so the test compares against PyTorch's own reading.
"""
import collections
import json
import os
import sys

import numpy as np


def torch_fixtures(out):
    import torch

    g = torch.Generator().manual_seed(0)
    big = torch.randn(4, 6, generator=g)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(5, 3, 3, 3, generator=g)
    sd["bn.weight"] = torch.randn(5, generator=g).half()
    sd["bn.bias"] = torch.randn(5, generator=g).to(torch.bfloat16)
    sd["bn.running_mean"] = torch.randn(5, generator=g).double()
    sd["bn.running_var"] = torch.rand(5, generator=g) + 0.5
    sd["bn.num_batches_tracked"] = torch.tensor(123, dtype=torch.int64)
    sd["fc.weight"] = big.t()  # non-contiguous: stride (1, 6)
    sd["fc.bias"] = big[1, 1::2]  # storage offset 7, stride 2
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    torch.save(sd, os.path.join(out, "plain.pth"))
    torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"state_dict": sd, "epoch": 3, "arch": "x"}, os.path.join(out, "nested.pth"))

    marker = os.path.join(out, "PWNED")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    torch.save({"w": torch.zeros(2), "x": Evil()}, os.path.join(out, "evil.pth"))
    expected = {k: {"shape": list(v.shape), "values": v.detach().float().reshape(-1).tolist()} for k, v in sd.items()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


def safetensors_fixtures(out):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {
        "conv.weight": rng.standard_normal((5, 3, 3, 3)).astype(np.float32),
        "bn.weight": rng.standard_normal(5).astype(np.float16),
        "bn.running_mean": rng.standard_normal(5).astype(np.float64),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "fc.weight": rng.standard_normal((4, 6)).astype(np.float32),
    }
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    expected = {
        k: {"shape": list(v.shape), "values": v.astype(np.float32).reshape(-1).tolist()} for k, v in tensors.items()
    }
    with open(os.path.join(out, "expected-st.json"), "w") as f:
        json.dump(expected, f)


def h5_fixtures(out):
    import h5py

    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    gamma, beta, mean, var = (rng.standard_normal(5).astype(np.float32) for _ in range(4))
    dense = rng.standard_normal((6, 4)).astype(np.float32)
    dense_b = rng.standard_normal(4).astype(np.float32)
    # Keras 2 (model.save_weights / model.save): model_weights/<layer>/<layer>/<var>:0
    with h5py.File(os.path.join(out, "keras2.h5"), "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"conv", b"bn", b"fc"]
        for layer, vars_ in (
            ("conv", {"kernel:0": kernel}),
            ("bn", {"gamma:0": gamma, "beta:0": beta, "moving_mean:0": mean, "moving_variance:0": var}),
            ("fc", {"kernel:0": dense, "bias:0": dense_b}),
        ):
            g = mw.create_group(layer)
            g.attrs["weight_names"] = [f"{layer}/{k}".encode() for k in vars_]
            for k, v in vars_.items():
                g.create_dataset(f"{layer}/{k}", data=v)
    # Keras 3 (model.save_weights('x.weights.h5')): layers/<layer>/vars/<i>, variables in creation order
    with h5py.File(os.path.join(out, "keras3.weights.h5"), "w") as f:
        for layer, vars_ in (("conv", [kernel]), ("bn", [gamma, beta, mean, var]), ("fc", [dense, dense_b])):
            g = f.create_group(f"layers/{layer}/vars")
            for i, v in enumerate(vars_):
                g.create_dataset(str(i), data=v)
        f.create_group("optimizer/vars")
    expected = {
        "conv.weight": kernel, "bn.weight": gamma, "bn.bias": beta, "bn.running_mean": mean,
        "bn.running_var": var, "fc.weight": dense, "fc.bias": dense_b,
    }
    with open(os.path.join(out, "expected-h5.json"), "w") as f:
        json.dump({k: {"shape": list(v.shape), "values": v.reshape(-1).tolist()} for k, v in expected.items()}, f)


KERAS_VARS = {"weight": "kernel", "bias": "bias", "running_mean": "moving_mean", "running_var": "moving_variance"}


def tiny_values(out):
    with open(os.path.join(out, "targets.json")) as f:
        targets = json.load(f)
    rng = np.random.default_rng(0)
    vals = collections.OrderedDict()
    for t in targets:
        v = rng.standard_normal(t["torchShape"]).astype(np.float32)
        if t["name"].endswith("running_var"):
            v = np.abs(v) + 0.5
        vals[t["name"]] = (v, t)
    return vals


def tiny_torch(out):
    import torch

    vals = tiny_values(out)
    sd = collections.OrderedDict((k, torch.from_numpy(v)) for k, (v, _) in vals.items())
    sd["fc.weight"] = torch.zeros(10, 4)  # a classifier head, as published files have
    torch.save(sd, os.path.join(out, "tiny.pth"))
    torch.save(sd, os.path.join(out, "tiny-legacy.pth"), _use_new_zipfile_serialization=False)
    wrapped = collections.OrderedDict(("module." + k, v) for k, v in sd.items())  # DataParallel names
    torch.save({"model": wrapped, "optimizer": {"lr": 0.1}}, os.path.join(out, "tiny-nested.pth"))
    np.concatenate([v.reshape(-1) for v, _ in vals.values()]).tofile(os.path.join(out, "tiny-values.bin"))


def tiny_st(out):
    from safetensors.numpy import save_file

    save_file({k: v for k, (v, _) in tiny_values(out).items()}, os.path.join(out, "tiny.safetensors"))


def keras_value(v, t):
    # PyTorch layout -> Keras: conv OIHW -> HWIO, dense [out, in] -> [in, out]
    if v.ndim == 4:
        return np.ascontiguousarray(v.transpose(2, 3, 1, 0))
    if v.ndim == 2:
        return np.ascontiguousarray(v.T)
    return v


def tiny_h5(out):
    import h5py

    layers = collections.OrderedDict()
    for k, (v, t) in tiny_values(out).items():
        layer, var = k.rsplit(".", 1)
        layers.setdefault(layer, []).append((KERAS_VARS[var], keras_value(v, t)))
    for vars_ in layers.values():  # BatchNorm layers name their scale and shift gamma and beta
        if any(n == "moving_mean" for n, _ in vars_):
            vars_[:] = [({"kernel": "gamma", "bias": "beta"}.get(n, n), v) for n, v in vars_]
    with h5py.File(os.path.join(out, "tiny-keras2.h5"), "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [n.encode() for n in layers]
        for layer, vars_ in layers.items():
            g = mw.create_group(layer)
            g.attrs["weight_names"] = [f"{layer}/{n}:0".encode() for n, _ in vars_]
            for n, v in vars_:
                g.create_dataset(f"{layer}/{n}:0", data=v)
    with h5py.File(os.path.join(out, "tiny-keras3.weights.h5"), "w") as f:
        for layer, vars_ in layers.items():
            g = f.create_group(f"layers/{layer}/vars")
            for i, (_, v) in enumerate(vars_):
                g.create_dataset(str(i), data=v)


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for kind in sys.argv[2:]:
        {
            "torch": torch_fixtures,
            "safetensors": safetensors_fixtures,
            "h5": h5_fixtures,
            "tiny-torch": tiny_torch,
            "tiny-st": tiny_st,
            "tiny-h5": tiny_h5,
        }[kind](out_dir)
