#!/usr/bin/env python3
"""Cross-check exported ONNX files with the ONNX project's own checker (not a test: the suite must not
need Python). Runs onnx.checker.check_model(path, full_check=True) — structure, types, and strict shape
inference — on each file given, and prints one line per file.

    python3 scripts/onnx_check.py model.onnx [more.onnx ...]

Needs the `onnx` Python package (Debian: apt install python3-onnx; with a pyenv Python first on PATH,
run /usr/bin/python3). Files with external data are checked by path, so the data file is found beside
them. Exit status: 0 when every file passes, 1 otherwise.
"""
import sys

try:
    import onnx
except ImportError:
    sys.exit("onnx_check: the 'onnx' Python package is missing (apt install python3-onnx, or pip install onnx)")


def main(paths):
    if not paths:
        sys.exit(__doc__)
    failed = 0
    for path in paths:
        try:
            onnx.checker.check_model(path, full_check=True)
            model = onnx.load(path, load_external_data=False)
            opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
            print(f"ok    {path} (ir {model.ir_version}; {opsets})")
        except Exception as err:  # the checker raises several exception types
            failed += 1
            print(f"FAIL  {path}: {err}")
    print(f"onnx {onnx.__version__}: {len(paths) - failed} of {len(paths)} files pass check_model(full_check=True)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
