"""The course's models: the CNN, the slot-filling corpus and its metrics, and the LSTM tagger."""
import numpy as np
import pytest

import tensorcore as tc
import tensorcore.nn.functional as F
from tensorcore import optim
from tensorcore.data import DataLoader, SlotFilling
from tensorcore.data.datasets import bio_spans, slot_f1, token_accuracy
from tensorcore.data.datasets.slot_filling import (IGNORE_INDEX, TAGS, TEST_TEMPLATES, TRAIN_TEMPLATES,
                                                   Vocabulary, default_vocabulary, generate_sentences)
from tensorcore.models import CNN, LSTMTagger, evaluate_tagger, predict_tags


# ---------------------------------------------------------------- CNN

def test_cnn_shapes_parameters_and_errors():
    tc.manual_seed(0)
    model = CNN()
    assert model(tc.randn(3, 1, 28, 28)).shape == (3, 10)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {"features.0.weight": (25, 1, 3, 3), "features.0.bias": (25,),
                      "features.3.weight": (50, 25, 3, 3), "features.3.bias": (50,),
                      "classifier.1.weight": (100, 1250), "classifier.1.bias": (100,),
                      "classifier.3.weight": (10, 100), "classifier.3.bias": (10,)}
    assert CNN(in_channels=3, num_classes=4, image_size=16)(tc.randn(2, 3, 16, 16)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"CNN: expected images of shape \(N, C, 28, 28\), got \(2, 784\)"):
        model(tc.randn(2, 784))
    with pytest.raises(ValueError, match="CNN: image_size 6 is too small"):
        CNN(image_size=6)


def test_cnn_matches_the_same_torch_model():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    ref = tnn.Sequential()
    ref.add_module("features", tnn.Sequential(tnn.Conv2d(1, 25, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(25, 50, 3),
                                              tnn.ReLU(), tnn.MaxPool2d(2)))
    ref.add_module("classifier", tnn.Sequential(tnn.Flatten(), tnn.Linear(1250, 100), tnn.ReLU(), tnn.Linear(100, 10)))
    model = CNN()
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(model(tc.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_cnn_training_steps_reduce_the_loss():
    tc.manual_seed(0)
    model = CNN()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = tc.rand(8, 1, 28, 28), tc.randint(0, 10, (8,))
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# ---------------------------------------------------------------- slot-filling corpus

def test_corpus_is_deterministic_and_split_by_template():
    a, b = generate_sentences(200, seed=3), generate_sentences(200, seed=3)
    assert a == b and a != generate_sentences(200, seed=4)
    assert generate_sentences(50, train=False, seed=3) == generate_sentences(50, train=False, seed=3)
    assert not set(TRAIN_TEMPLATES) & set(TEST_TEMPLATES)
    train, test = SlotFilling(train=True, size=400), SlotFilling(train=False, size=200)
    assert {s.template for s in train.sentences} <= set(TRAIN_TEMPLATES)
    assert {s.template for s in test.sentences} == set(TEST_TEMPLATES)  # 200 draws hit all 7
    train_sentences = {s.tokens for s in train.sentences}
    assert not any(s.tokens in train_sentences for s in test.sentences)
    assert all(w in train.vocab for s in test.sentences for w in s.tokens)


def test_bio_tags_are_consistent_and_context_decides_the_slot():
    sentences = generate_sentences(500, seed=0) + generate_sentences(200, train=False, seed=0)
    multi_word = 0
    for s in sentences:
        assert len(s.tokens) == len(s.tags) and set(s.tags) <= set(TAGS)
        for i, tag in enumerate(s.tags):
            if tag.startswith("I-"):
                assert s.tags[i - 1] in ("B-" + tag[2:], tag), str(s)
        template_words = [w for w in s.template.split() if not w.startswith("{")]
        untagged = [w for w, t in zip(s.tokens, s.tags) if t == "O" and w != "on"]
        assert untagged == template_words, str(s)
        for i, word in enumerate(s.tokens[:-1]):
            if word == "arrive":
                assert s.tags[i + 1] == "B-dest" or s.tokens[i + 1] == "in"
            if word == "leave":
                assert s.tags[i + 1] == "B-depart"
        multi_word += any(t == "I-dest" or t == "I-depart" for t in s.tags)
    assert multi_word > 50
    fixed = [s for s in sentences if s.template == "arrive {dest} {time}"][0]
    assert fixed.tags[:2] == ("O", "B-dest")


def test_dataset_padding_vocabulary_and_loader():
    ds = SlotFilling(train=True, size=64, max_len=20)
    assert ds.token_ids.shape == ds.tag_ids.shape == (64, 20)
    for row, s in enumerate(ds.sentences):
        n = len(s.tokens)
        assert ds.lengths[row] == n
        assert ds.vocab.decode(ds.token_ids[row, :n]) == list(s.tokens)
        assert (ds.token_ids[row, n:] == 0).all() and (ds.tag_ids[row, n:] == IGNORE_INDEX).all()
    assert ds.decode_tags(np.where(ds.tag_ids < 0, 0, ds.tag_ids)) == [list(s.tags) for s in ds.sentences]
    tokens, tags = next(iter(DataLoader(ds, batch_size=8, shuffle=True)))
    assert tokens.shape == tags.shape == (8, 20) and tokens.dtype is tc.int64
    vocab = Vocabulary(["b", "a", "b"])
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"] and vocab.encode(["a", "zzz"]) == [2, 1]
    assert len(default_vocabulary()) == len(ds.vocab)
    with pytest.raises(ValueError, match="max_len 3 is shorter than the longest sentence"):
        SlotFilling(size=10, max_len=3)


def test_slot_f1_and_token_accuracy_on_hand_cases():
    gold = [["O", "B-dest", "I-dest", "O", "B-time", "I-time"], ["B-depart", "O"]]
    assert slot_f1(gold, gold) == 1.0 and token_accuracy(gold, gold) == 1.0
    assert bio_spans(gold[0]) == {("dest", 1, 3), ("time", 4, 6)}
    # a truncated span is wrong, not half right: 2 of 3 gold spans matched, 3 predicted
    short = [["O", "B-dest", "O", "O", "B-time", "I-time"], ["B-depart", "O"]]
    assert slot_f1(short, gold) == pytest.approx(2 * 2 / (3 + 3))
    assert token_accuracy(short, gold) == pytest.approx(7 / 8)
    # right span, wrong type
    assert slot_f1([["B-dest", "O"]], [["B-depart", "O"]]) == 0.0
    # an I- tag without its B- opens a span (conlleval); a type switch closes one
    assert bio_spans(["I-time", "I-time", "I-dest", "B-dest"]) == {("time", 0, 2), ("dest", 2, 3), ("dest", 3, 4)}
    assert slot_f1([["O", "O"]], [["O", "O"]]) == 1.0
    assert slot_f1([["B-time", "O"]], [["O", "O"]]) == 0.0
    with pytest.raises(ValueError, match="sequence 0 has 1 predicted tags but 2 gold tags"):
        slot_f1([["O"]], [["O", "O"]])


# ---------------------------------------------------------------- LSTM tagger

def test_lstm_tagger_learns_the_corpus_quickly():
    tc.manual_seed(0)
    train, test = SlotFilling(train=True, size=320, seed=1), SlotFilling(train=False, size=200, seed=1)
    model = LSTMTagger(len(train.vocab), len(TAGS), embedding_dim=16, hidden_size=32)
    opt = optim.Adam(model.parameters(), lr=2e-2)
    loader = DataLoader(train, batch_size=32, shuffle=True)
    for _ in range(4):
        for tokens, tags in loader:
            logits = model(tokens)
            loss = F.cross_entropy(logits.reshape(-1, len(TAGS)), tags.reshape(-1), ignore_index=IGNORE_INDEX)
            opt.zero_grad()
            loss.backward()
            opt.step()
    scores = evaluate_tagger(model, test)
    # chance: 1/7 per token; tagging everything "O" gets about 0.6 token accuracy and F1 0
    assert scores["token_accuracy"] > 0.9 and scores["slot_f1"] > 0.8, scores
    assert model.training
    pred = predict_tags(model, test)
    assert [len(p) for p in pred] == list(test.lengths)
    with pytest.raises(ValueError, match=r"LSTMTagger: expected token ids of shape \(N, L\)"):
        model(tc.tensor([1, 2, 3]))
