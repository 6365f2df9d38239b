"""Read and write HF-format weight files as {name: numpy array}.

safetensors (single or sharded) is read with `safe_open(framework="np")`; a pickled `pytorch_model.bin`
only with `torch.load(weights_only=True)` (torch is an optional dependency).
"""
import json
import os
import zipfile

import numpy as np

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_BIN = "pytorch_model.bin"
PYTORCH_BIN_INDEX = "pytorch_model.bin.index.json"


class CheckpointError(ValueError):
    """A weights file that cannot be read as a HAT checkpoint; the message names the file and the problem."""


def find_weights(folder):
    """The weights file (or shard index) of a checkpoint folder, safetensors first."""
    for name in (SAFETENSORS, SAFETENSORS_INDEX, PYTORCH_BIN, PYTORCH_BIN_INDEX):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{folder}: no weights found (looked for {SAFETENSORS}, {SAFETENSORS_INDEX}, "
                            f"{PYTORCH_BIN}, {PYTORCH_BIN_INDEX})")


def read_state_dict(path):
    """{key: np.ndarray} from a folder, a .safetensors / .bin file or a shard index."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = find_weights(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.endswith(".index.json"):
        return _read_sharded(path)
    if path.endswith(".safetensors"):
        return _read_safetensors(path)
    return _read_torch(path)


def _read_sharded(index_path):
    try:
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index_path}: not a shard index with a 'weight_map' ({e})") from None
    folder = os.path.dirname(index_path)
    state = {}
    for shard in sorted(set(weight_map.values())):
        part = read_state_dict(os.path.join(folder, shard))
        state.update({k: v for k, v in part.items() if weight_map.get(k) == shard})
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise CheckpointError(f"{index_path}: keys listed in the index but absent from their shard: {missing}")
    return state


def _read_safetensors(path):
    from safetensors import SafetensorError, safe_open

    state, bfloat16 = {}, []
    try:  # the library checks that every tensor's byte range fits its dtype and shape and the file
        with safe_open(path, framework="np") as f:
            for k in f.keys():
                try:
                    state[k] = f.get_tensor(k)
                except TypeError:  # numpy without ml_dtypes registered has no bfloat16
                    bfloat16.append(k)
                    continue
                if state[k].dtype.name == "bfloat16":
                    state[k] = state[k].astype(np.float32)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e}); truncated or not a weights file?") \
            from None
    if bfloat16:
        state.update(_read_bfloat16(path, bfloat16))
    return state


def _read_bfloat16(path, keys):
    """BF16 tensors as float32, read from the (already validated) header's byte ranges with ml_dtypes."""
    import struct

    import ml_dtypes

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k in keys:
        entry = header[k]
        if entry["dtype"] != "BF16":
            raise CheckpointError(f"{path}: tensor {k!r} has dtype {entry['dtype']}, which numpy cannot read")
        start, end = entry["data_offsets"]
        out[k] = np.frombuffer(data[start:end], ml_dtypes.bfloat16).reshape(entry["shape"]).astype(np.float32)
    return out


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{path} is a pickled PyTorch checkpoint; reading it needs torch "
                          "(pip install 'hat-keras[torch]'), or convert it to model.safetensors first") from None
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] != b"\x80":  # neither a torch zip nor a legacy pickle
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a torch zip archive nor a pickle)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: could not be read with torch.load(weights_only=True): "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "numpy") for v in state.values()):
        raise CheckpointError(f"{path}: does not hold a state dict of tensors")
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def _umask():
    """The process umask (reading it means setting it: set to a common value for that instant)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_safetensors(state, path, metadata=None):
    """Write atomically (temp file, then rename) so a failure leaves nothing half-written. safetensors
    creates its file owner-only (0600, a private temp file renamed); it gets the mode any other new file
    gets (0666 less the umask), like the config.json beside it."""
    from safetensors.numpy import save_file

    tmp = path + ".tmp"
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, tmp, metadata=metadata or {"format": "pt"})
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
