"""Extract TensorFlow's shared libraries and the C API headers they need from a wheel.

Usage: extract_wheel.py WHEEL DEST [SOURCE_DIR ...]

Also writes DEST/cuda-requirements.json: the wheel's `and-cuda` extra (the nvidia-* CUDA and cuDNN
runtime wheels and the exact versions this TensorFlow build was made against), read from its METADATA.

Copies tensorflow/libtensorflow_cc.so.2 and libtensorflow_framework.so.2 to DEST/lib and the
transitive #include closure of tensorflow/c/c_api.h, tensorflow/c/eager/c_api.h and of every
quoted #include in the C/C++ files of SOURCE_DIRs (the addon's binding/) to DEST/include.
Only the closure is taken because the wheel's full include tree is ~10k files and 160 MB.
"""
import json
import os
import re
import shutil
import sys
import zipfile

INCLUDE_PREFIX = "tensorflow/include/"
ROOTS = ["tensorflow/c/c_api.h", "tensorflow/c/eager/c_api.h"]
LIBS = ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"]
INCLUDE_RE = re.compile(rb'^\s*#\s*include\s+"([^"]+)"', re.M)
# Requires-Dist: nvidia-cudnn-cu12 ==9.3.0.75 ; extra == 'and-cuda'
CUDA_REQ_RE = re.compile(
    r"^Requires-Dist:\s*(nvidia-[a-z0-9-]+)\s*\(?==\s*([0-9.]+)\)?\s*;\s*extra\s*==\s*.and-cuda.",
    re.M,
)


def cuda_requirements(z):
    """{name: version} of the wheel's and-cuda extra ({} for tensorflow-cpu, which has none)."""
    meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
    if not meta:
        return {}
    return dict(CUDA_REQ_RE.findall(z.read(meta[0]).decode("utf-8")))


def source_includes(source_dirs):
    found = []
    for d in source_dirs:
        for name in sorted(os.listdir(d)):
            if name.endswith((".cc", ".h", ".cpp")):
                with open(os.path.join(d, name), "rb") as f:
                    found += [inc.decode() for inc in INCLUDE_RE.findall(f.read())]
    return found


def main(wheel: str, dest: str, source_dirs) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        todo, seen = list(ROOTS) + source_includes(source_dirs), set()
        while todo:
            header = todo.pop()
            if header in seen:
                continue
            seen.add(header)
            member = INCLUDE_PREFIX + header
            if member not in names:
                continue  # system or generated header not shipped; the compiler will say if it matters
            for inc in INCLUDE_RE.findall(z.read(member)):
                todo.append(inc.decode())
        for header in sorted(seen):
            member = INCLUDE_PREFIX + header
            if member in names:
                out = os.path.join(dest, "include", header)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        os.makedirs(os.path.join(dest, "lib"), exist_ok=True)
        for lib in LIBS:
            if lib not in names:
                sys.exit(f"{wheel}: missing {lib}")
            out = os.path.join(dest, "lib", os.path.basename(lib))
            with z.open(lib) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
        with open(os.path.join(dest, "cuda-requirements.json"), "w") as f:
            json.dump(cuda_requirements(z), f, indent=2, sort_keys=True)
    print(f"extracted {len(seen)} headers and {len(LIBS)} libraries")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
