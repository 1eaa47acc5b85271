"""Edit tensors of a safetensors file in place of a copy (shared by the Scripts/*.py model edits).

`SafeTensorsFile(path)` reads the header and the raw data; `get(name)` returns a tensor as a numpy
array (F16/F32), `set(name, array)` writes one back in its stored dtype and shape, and
`save(path)` writes the edited copy with the original header (offsets and metadata unchanged).
A development helper; nothing in the runtime uses Python.
"""
import json, struct
import numpy as np

DTYPES = {"F16": np.float16, "F32": np.float32}

class SafeTensorsFile:
    def __init__(self, path):
        buf = open(path, "rb").read()
        n = struct.unpack("<Q", buf[:8])[0]
        self.prefix = buf[:8 + n]
        self.header = json.loads(buf[8:8 + n])
        self.data = bytearray(buf[8 + n:])
        self.metadata = self.header.get("__metadata__", {})

    def names(self):
        return [k for k in self.header if k != "__metadata__"]

    def get(self, name):
        meta = self.header[name]
        a, b = meta["data_offsets"]
        return np.frombuffer(bytes(self.data[a:b]), dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"]).copy()

    def set(self, name, array):
        meta = self.header[name]
        if list(array.shape) != meta["shape"]:
            raise ValueError(f"{name}: {array.shape} does not match the stored {meta['shape']}")
        a, b = meta["data_offsets"]
        self.data[a:b] = np.asarray(array, dtype=DTYPES[meta["dtype"]]).tobytes()

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.prefix)
            f.write(self.data)
