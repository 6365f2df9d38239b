"""Access to the independent PyTorch HAT in ../shared/tools (a reference for any geometry)."""
import importlib.util
import json

import numpy as np
import pytest

from conftest import SHARED


def load_peer():
    path = SHARED / "tools" / "torch_hat.py"
    if not path.exists():
        pytest.skip(f"{path} not found: set HAT_SHARED to run tests against the PyTorch peer")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location("torch_hat", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_checkpoint(peer, folder, config, head="mlm", pooling="max", seed=0):
    """A randomly initialised PyTorch HAT of any geometry, saved the way transformers saves it."""
    import torch
    from safetensors.torch import save_file

    model = peer.build(config, head=head, pooling=pooling)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1
            base = 1.0 if name.endswith("weight") and "orm" in name else 0.0
            p.copy_(base + scale * torch.randn(p.shape, generator=g))
    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    # transformers drops aliased copies in safetensors; keep one of each (the first D table, lm_head.bias).
    state.pop("lm_head.decoder.weight", None)
    state.pop("lm_head.decoder.bias", None)
    L, pad, N = config["max_sentence_length"], config.get("pad_token_id", 0), config["max_sentences"]
    state["hi_transformer.embeddings.position_ids"] = torch.arange(pad + 1, L + pad + 1).repeat(N)[None]
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    arch = {"mlm": "HATForMaskedLM", "seqcls": "HATForSequenceClassification",
            "seqsentcls": "HATModelForSequentialSentenceClassification", "multiplechoice": "HATForMultipleChoice"}[head]
    full = {**peer.DEFAULTS, **config, "architectures": [arch], "model_type": "hierarchical-transformer"}
    (folder / "config.json").write_text(json.dumps(full, indent=2))
    return model.eval()


def torch_forward(model, ids, mask, types=None):
    import torch

    with torch.no_grad():
        out = model(torch.as_tensor(np.asarray(ids, dtype=np.int64)), torch.as_tensor(np.asarray(mask, dtype=np.int64)),
                    None if types is None else torch.as_tensor(np.asarray(types, dtype=np.int64)))
    return {k: v.numpy() for k, v in out.items()}
