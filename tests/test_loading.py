"""`hat_keras.load` on the three saved forms of one classifier, and complete keras-hub presets."""
import shutil

import numpy as np
import pytest

import hat_keras
from hat_keras.loading import ModelNotFound, model_format

from harness import run_fresh_python

TEXTS = ["The committee approved the budget after a long debate.", "Short one.", ""]


@pytest.fixture(scope="module")
def saved(fixtures_dir, tmp_path_factory):
    """A tiny classifier with a tokenizer, saved as an HF folder, a .keras file and a preset folder."""
    root = tmp_path_factory.mktemp("forms")
    src = root / "src"
    shutil.copytree(fixtures_dir / "tiny-e2" / "mlm", src)
    vocab = (fixtures_dir / "tokenizer" / "vocab.txt").read_text(encoding="utf-8").splitlines()[:1000]
    (src / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    model = hat_keras.load(src, task="text_classifier", num_labels=3)
    model.label_names = ["neg", "neutral", "pos"]
    hat_keras.save_pretrained(model, root / "hf")
    model.save(root / "model.keras")
    model.save_to_preset(root / "preset")
    return model, root


def test_three_forms_give_the_same_logits(saved):
    model, root = saved
    want = np.asarray(model.predict(TEXTS, verbose=0))
    for form, path in (("hf", root / "hf"), ("keras", root / "model.keras"), ("preset", root / "preset")):
        assert model_format(path) == form
        loaded = hat_keras.load(path)
        assert type(loaded) is hat_keras.HATTextClassifier and loaded.preprocessor is not None, form
        np.testing.assert_allclose(np.asarray(loaded.predict(TEXTS, verbose=0)), want, atol=1e-6, err_msg=form)


def test_keras_hub_loads_the_preset_in_a_fresh_process(saved):
    model, root = saved
    want = np.asarray(model.predict(TEXTS, verbose=0))
    out = run_fresh_python(f"""
        import json, numpy as np
        import hat_keras, keras_hub
        preset = {str(root / "preset")!r}
        clf = keras_hub.models.TextClassifier.from_preset(preset)
        backbone = keras_hub.models.Backbone.from_preset(preset)
        tok = keras_hub.tokenizers.Tokenizer.from_preset(preset)
        print(json.dumps({{"logits": np.asarray(clf.predict({TEXTS!r}, verbose=0)).tolist(),
                          "backbone": type(backbone).__name__, "tokenizer": type(tok).__name__,
                          "ids": np.asarray(tok({TEXTS[0]!r})["token_ids"]).tolist()}}))
    """)
    import json
    got = json.loads(out.strip().splitlines()[-1])
    np.testing.assert_allclose(np.asarray(got["logits"]), want, atol=1e-6)
    assert got["backbone"] == "HATBackbone" and got["tokenizer"] == "HATTokenizer"
    np.testing.assert_array_equal(got["ids"], model.preprocessor.tokenizer(TEXTS[0])["token_ids"])


def test_not_a_model_names_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "fake.keras").write_text("not a zip")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{oops")
    for path, words in ((tmp_path / "nope", "no such file"), (tmp_path / "empty", "no config.json"),
                        (tmp_path / "fake.keras", "not a zip"), (tmp_path / "bad", "not valid JSON")):
        with pytest.raises(ModelNotFound, match=words):
            hat_keras.load(path)


def test_from_pretrained_is_a_deprecated_alias_of_load(saved):
    _, root = saved
    with pytest.warns(DeprecationWarning, match="hat_keras.load"):
        model = hat_keras.from_pretrained(root / "hf", task="backbone")
    assert isinstance(model, hat_keras.HATBackbone)


def test_other_keras_models_are_refused_naming_their_class(tmp_path, capsys):
    """A `.keras` file or preset holding a plain `Sequential` or keras-hub's `BertBackbone` is no HAT model:
    `hat_keras.load` names the class and the path, and info / predict / export say the same in one line."""
    import keras
    import keras_hub
    from hat_keras.cli import main

    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    seq.save(tmp_path / "seq.keras")
    bert = keras_hub.models.BertBackbone(vocabulary_size=16, num_layers=1, num_heads=1, hidden_dim=4,
                                         intermediate_dim=8, max_sequence_length=8)
    bert.save(tmp_path / "bert.keras")
    bert.save_to_preset(str(tmp_path / "bert_preset"))
    (tmp_path / "doc.txt").write_text("alpha beta")
    for path, cls in ((tmp_path / "seq.keras", type(seq)), (tmp_path / "bert.keras", type(bert)),
                      (tmp_path / "bert_preset", type(bert))):
        message = (f"{path}: holds a {cls.__name__} ({cls.__module__}), not a HAT model (HATBackbone or a HAT task "
                   "such as HATTextClassifier)")
        with pytest.raises(ModelNotFound) as e:
            hat_keras.load(path)
        assert str(e.value) == message
        for argv in (["info", str(path)], ["predict", str(path), str(tmp_path / "doc.txt")],
                     ["export", str(path), "-o", str(tmp_path / "out"), "--format", "keras"]):
            assert main(argv) == 1, argv
            assert capsys.readouterr().err.strip().splitlines()[-1] == f"hat-keras {argv[0]}: error: {message}"
    assert not (tmp_path / "out").exists()
