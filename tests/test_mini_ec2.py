"""Parity at the real EC2-mini-1024 geometry (30522 vocab, H 256, 10 layers, 8 x 128 tokens)."""
import numpy as np
import pytest
import keras

import hat_keras
from hat_keras import HATConfig, read_state_dict
from hat_keras.convert import build_model, load_state_dict
from hat_keras.models import HATTextClassifier

from harness import assert_close


@pytest.fixture(scope="module")
def ec2(fixtures_dir):
    folder = fixtures_dir / "mini-ec2"
    return folder, np.load(folder / "refs.npz"), hat_keras.from_pretrained(folder)


def test_layout_and_parameters(ec2):
    folder, r, mlm = ec2
    assert mlm.backbone.layout == "S|SD|D|S|SD|D|S|S|S|S"
    assert not mlm.load_report.initialized and not mlm.load_report.tie_warnings
    # spec §5.5: 17,423,930 unique parameters for HATForMaskedLM (doc-position tables tied upstream:
    # Keras keeps one table per D layer, so add the 3 extra copies of 9 x 256).
    extra_tables = (mlm.backbone.layout.count("D") - 1) * 9 * 256
    assert mlm.count_params() == 17_423_930 + extra_tables


def test_sequence_output_and_mlm(ec2):
    folder, r, mlm = ec2
    x = {"token_ids": r["input_ids"].astype("int32"), "padding_mask": r["attention_mask"].astype("int32")}
    assert_close(mlm.backbone(x)["sequence_output"], r["last_hidden_state"], what="last_hidden_state")
    pos = np.broadcast_to(r["mlm_logits_positions"].astype("int32"), (2, r["mlm_logits_positions"].size))
    assert_close(mlm({**x, "mask_positions": pos}), r["mlm_logits"], atol=2e-5, what="mlm logits")
    full = mlm({**x, "mask_positions": hat_keras.all_positions(x["token_ids"])})
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)(
        r["mlm_labels"].astype("int32"), full)
    assert abs(float(loss) - float(r["mlm_loss"])) < 1e-5


def test_seqcls_max(ec2):
    folder, r, mlm = ec2
    head = folder / "seqcls-max"
    config = HATConfig.from_pretrained(head)
    state = {k: v for k, v in read_state_dict(folder).items() if k.startswith("hi_transformer.")}
    state.update(read_state_dict(head / "head.safetensors"))
    model = build_model(config, HATTextClassifier, pooling="max")
    load_state_dict(model, state, source=str(head), config=config)
    x = {"token_ids": r["input_ids"].astype("int32"), "padding_mask": r["attention_mask"].astype("int32")}
    assert_close(model(x), r["seqcls_max_logits"], what="seqcls max logits")
