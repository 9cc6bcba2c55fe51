"""TensorLoader and finding, reading and loading Fashion-MNIST."""
import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lrcourse
import lrcourse.data as data
from lrcourse.data import (DataCorruptError, DataNotFoundError, TensorLoader, get_fashion_mnist_labels,
                           load_fashion_mnist, read_fashion_mnist, select_classes)

from conftest import SMALL_TEST, SMALL_TRAIN, idx_bytes, write_idx

# ------------------------------------------------------------------ TensorLoader


def make_loader(n=10, batch_size=4, **kw):
    X = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 3)  # row i is all i
    y = torch.arange(n)
    return TensorLoader(X, y, batch_size, **kw)


def epoch_order(loader):
    """The example indices of one pass, checking that X and y stay paired."""
    order = []
    for X, y in loader:
        assert torch.equal(X[:, 0].long(), y) and torch.equal(X[:, 2].long(), y)
        order += y.tolist()
    return order


@pytest.mark.parametrize("n, b, drop_last, expected", [
    (10, 4, False, 3), (10, 4, True, 2), (8, 4, False, 2), (8, 4, True, 2),
    (3, 4, False, 1), (3, 4, True, 0), (10, 1, False, 10),
])
def test_len(n, b, drop_last, expected):
    loader = make_loader(n, b, drop_last=drop_last)
    assert len(loader) == expected
    assert sum(1 for _ in loader) == expected


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_shapes_and_last_partial_batch(shuffle):
    loader = make_loader(10, 4, shuffle=shuffle)
    shapes = [(tuple(X.shape), tuple(y.shape)) for X, y in loader]
    assert shapes == [((4, 3), (4,)), ((4, 3), (4,)), ((2, 3), (2,))]
    loader = make_loader(10, 4, shuffle=shuffle, drop_last=True)
    assert [X.shape[0] for X, _ in loader] == [4, 4]


def test_no_shuffle_keeps_the_order():
    loader = make_loader(10, 4)
    assert epoch_order(loader) == list(range(10))
    assert epoch_order(loader) == list(range(10))


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_shuffle_visits_every_example_once_per_epoch(seed):
    loader = make_loader(23, 5, shuffle=True, seed=seed)
    for _ in range(3):
        order = epoch_order(loader)
        assert sorted(order) == list(range(23))
    assert loader.epoch == 3


def test_shuffle_with_drop_last_visits_distinct_examples():
    loader = make_loader(23, 5, shuffle=True, drop_last=True)
    order = epoch_order(loader)
    assert len(order) == 20 and len(set(order)) == 20


def test_same_seed_same_order_and_epochs_differ():
    a = make_loader(50, 8, shuffle=True, seed=7)
    b = make_loader(50, 8, shuffle=True, seed=7)
    a_epochs = [epoch_order(a) for _ in range(3)]
    b_epochs = [epoch_order(b) for _ in range(3)]
    assert a_epochs == b_epochs
    assert a_epochs[0] != a_epochs[1] != a_epochs[2] != a_epochs[0]
    assert a_epochs[0] != list(range(50))
    c = make_loader(50, 8, shuffle=True, seed=8)
    assert epoch_order(c) != a_epochs[0]


def test_reseed_restarts_and_epoch_resumes():
    loader = make_loader(40, 8, shuffle=True, seed=3)
    first, second = epoch_order(loader), epoch_order(loader)
    loader.reseed(3)
    assert loader.epoch == 0 and loader.seed == 3
    assert epoch_order(loader) == first
    loader.epoch = 1  # resume at the second pass
    assert epoch_order(loader) == second
    loader.reseed(4)
    assert epoch_order(loader) != first


def test_reseed_rejects_bad_seed():
    loader = make_loader()
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63 - 1\], got -1"):
        loader.reseed(-1)


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_permutation_is_what_iteration_yields(epoch):
    loader = make_loader(30, 7, shuffle=True, seed=11)
    perm = loader.permutation(epoch)
    assert sorted(perm.tolist()) == list(range(30))
    loader.epoch = epoch
    assert epoch_order(loader) == perm.tolist()
    assert torch.equal(loader.permutation(epoch), perm)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_stay_on_the_tensors_device(shuffle):
    # The meta device holds no data, so any copy to the CPU would show.
    X = torch.empty(10, 3, device="meta")
    y = torch.empty(10, dtype=torch.long, device="meta")
    loader = TensorLoader(X, y, 4, shuffle=shuffle)
    assert loader.device == torch.device("meta")
    batches = list(loader)
    assert len(batches) == 3
    assert all(Xb.device.type == "meta" and yb.device.type == "meta" for Xb, yb in batches)
    assert loader.permutation(0).device.type == "meta"
    cpu = make_loader(10, 4, shuffle=shuffle)
    assert all(Xb.device == cpu.X.device for Xb, _ in cpu)


def test_properties_and_repr():
    loader = make_loader(10, 4, shuffle=True)
    assert loader.num_examples == 10 and loader.batch_size == 4
    assert repr(loader) == ("TensorLoader(10 examples, batch_size=4, 3 batches, "
                            "shuffle=True, device=cpu)")


def test_numpy_int_batch_size_accepted():
    assert len(make_loader(10, np.int64(4))) == 3


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4", None])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got "):
        make_loader(10, batch_size)


@pytest.mark.parametrize("seed", [-1, 0.5, False])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63 - 1\]"):
        make_loader(10, 4, seed=seed)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match=r"X and y must hold the same number of examples, got 10 and 9"):
        TensorLoader(torch.zeros(10, 2), torch.zeros(9), 4)


def test_different_devices():
    with pytest.raises(ValueError, match=r"X and y must be on the same device"):
        TensorLoader(torch.zeros(10, 2), torch.zeros(10, device="meta"), 4)


def test_empty_data():
    with pytest.raises(ValueError, match=r"X and y hold no examples"):
        TensorLoader(torch.zeros(0, 2), torch.zeros(0), 4)


@pytest.mark.parametrize("X, y, names", [
    ([[1.0], [2.0]], torch.zeros(2), "list and Tensor"),
    (torch.zeros(2, 1), np.zeros(2), "Tensor and ndarray"),
])
def test_non_tensors(X, y, names):
    with pytest.raises(TypeError, match=rf"X and y must be tensors, got {names}"):
        TensorLoader(X, y, 1)


# ---------------------------------------------------------- select_classes

# Labels of a small loader; example i is the row of X that is all i.
LABELS = [7, 2, 9, 5, 2, 7, 0, 5, 9, 9, 6, 5, 8, 2, 7, 9]


def labelled_loader(batch_size=4, **kw):
    X = torch.arange(len(LABELS), dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    return TensorLoader(X, torch.tensor(LABELS), batch_size, **kw)


def kept(loader):
    """(original example index, new label) of every example, in tensor order."""
    return list(zip(loader.X[:, 0].long().tolist(), loader.y.tolist()))


def test_select_classes_relabels_in_the_order_given():
    sub = select_classes(labelled_loader(), [5, 6, 7, 8, 9])
    mapping = {5: 0, 6: 1, 7: 2, 8: 3, 9: 4}
    expected = [(i, mapping[c]) for i, c in enumerate(LABELS) if c in mapping]
    assert kept(sub) == expected
    assert sub.y.dtype == torch.int64
    assert torch.equal(sub.X[:, 0], sub.X[:, 2])  # whole rows travel together
    # the order of classes, not their values, decides the new labels
    sub = select_classes(labelled_loader(), [9, 2, 7])
    assert kept(sub) == [(0, 2), (1, 1), (2, 0), (4, 1), (5, 2), (8, 0), (9, 0),
                         (13, 1), (14, 2), (15, 0)]


@pytest.mark.parametrize("per_class, expected", [
    (1, [(0, 1), (2, 0), (3, 2)]),
    (2, [(0, 1), (2, 0), (3, 2), (5, 1), (7, 2), (8, 0)]),
    (3, [(0, 1), (2, 0), (3, 2), (5, 1), (7, 2), (8, 0), (9, 0), (11, 2), (14, 1)]),
    (100, [(0, 1), (2, 0), (3, 2), (5, 1), (7, 2), (8, 0), (9, 0), (11, 2), (14, 1), (15, 0)]),
])
def test_select_classes_keeps_the_first_per_class(per_class, expected):
    # 9 -> 0, 7 -> 1, 5 -> 2; 9 at 2, 8, 9, 15; 7 at 0, 5, 14; 5 at 3, 7, 11
    sub = select_classes(labelled_loader(), [9, 7, 5], per_class=per_class)
    assert kept(sub) == expected
    assert torch.bincount(sub.y).tolist() == [min(per_class, n) for n in (4, 3, 3)]


def test_select_classes_per_class_is_deterministic_under_shuffle():
    loader = labelled_loader(shuffle=True, seed=3)
    next(iter(loader))  # an epoch started: the tensor order, not the epoch's, decides
    a = select_classes(loader, [2, 0], per_class=2)
    b = select_classes(labelled_loader(), [2, 0], per_class=2)
    assert kept(a) == kept(b) == [(1, 0), (4, 0), (6, 1)]


def test_select_classes_leaves_the_loader_unchanged():
    loader = labelled_loader(3, shuffle=True, seed=5)
    list(loader)  # one pass: epoch 1
    X, y = loader.X.clone(), loader.y.clone()
    sub = select_classes(loader, [2, 9], per_class=1, batch_size=2, shuffle=False, seed=1)
    assert torch.equal(loader.X, X) and torch.equal(loader.y, y)
    assert (loader.batch_size, loader.shuffle, loader.seed, loader.epoch) == (3, True, 5, 1)
    sub.y += 100  # the new loader's tensors are its own
    assert torch.equal(loader.y, y)


def test_select_classes_inherits_the_loaders_settings():
    loader = labelled_loader(3, shuffle=True, seed=11, drop_last=True)
    list(loader)  # one pass: the new loader still starts at epoch 0
    sub = select_classes(loader, [9, 5, 2])
    assert (sub.batch_size, sub.shuffle, sub.seed, sub.drop_last) == (3, True, 11, True)
    assert sub.epoch == 0 and sub.device == loader.device
    assert sub.num_examples == 10 and len(sub) == 3  # 10 // 3 with drop_last
    assert sorted(sub.y.tolist()) == [0] * 4 + [1] * 3 + [2] * 3
    assert sum(1 for _ in sub) == 3


@pytest.mark.parametrize("kw, settings, n_batches", [
    (dict(batch_size=4), (4, False, 0), 3),
    (dict(shuffle=True, seed=8), (3, True, 8), 4),
    (dict(batch_size=np.int64(10), shuffle=True), (10, True, 0), 1),
])
def test_select_classes_overrides_the_loaders_settings(kw, settings, n_batches):
    loader = labelled_loader(3)
    sub = select_classes(loader, [9, 5, 2], **kw)
    assert (sub.batch_size, sub.shuffle, sub.seed) == settings
    assert len(sub) == n_batches and sum(1 for _ in sub) == n_batches
    assert sorted(torch.cat([y for _, y in sub]).tolist()) == [0] * 4 + [1] * 3 + [2] * 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_select_classes_stays_on_the_gpu():
    loader = labelled_loader()
    loader = TensorLoader(loader.X.cuda(), loader.y.cuda(), 4)
    sub = select_classes(loader, [9, 7, 5], per_class=2)
    assert sub.X.device == sub.y.device == loader.device
    assert [(int(i), int(c)) for i, c in zip(sub.X[:, 0].cpu(), sub.y.cpu())] == [
        (0, 1), (2, 0), (3, 2), (5, 1), (7, 2), (8, 0)]


def test_select_classes_override_shuffle_off_keeps_the_order():
    sub = select_classes(labelled_loader(shuffle=True, seed=2), [5, 6], shuffle=False)
    assert torch.cat([X[:, 0] for X, _ in sub]).long().tolist() == [3, 7, 10, 11]


def test_select_classes_accepts_ranges_arrays_and_tensors():
    expected = kept(select_classes(labelled_loader(), [5, 6, 7, 8, 9]))
    for classes in (range(5, 10), (5, 6, 7, 8, 9), np.arange(5, 10), torch.arange(5, 10),
                    [np.int64(5), 6, 7, 8, 9]):
        assert kept(select_classes(labelled_loader(), classes)) == expected


def test_select_classes_on_fashion_mnist(fake_fmnist_dir, no_system_copy):
    train_iter, _ = load_fashion_mnist(8, root=fake_fmnist_dir[0])
    labels = train_iter.y.tolist()
    sub = select_classes(train_iter, range(5, 10), per_class=2)
    rows = [i for i, c in enumerate(labels) if c >= 5]
    rows = [i for i in rows if labels[:i].count(labels[i]) < 2]
    assert torch.equal(sub.X, train_iter.X[rows])
    assert sub.y.tolist() == [labels[i] - 5 for i in rows]
    assert sub.X.shape[1:] == (1, 28, 28) and sub.X.dtype == torch.float32


@pytest.mark.parametrize("classes, message", [
    ([], r"classes must name at least one label, got \[\]"),
    ((), r"classes must name at least one label, got \(\)"),
    (5, r"classes must be a sequence of ints, got 5"),
    (None, r"classes must be a sequence of ints, got None"),
    ([5, 2.0], r"classes must be ints, got 2\.0 in \[5, 2\.0\]"),
    ([True, 2], r"classes must be ints, got True in \[True, 2\]"),
    ("59", r"classes must be ints, got '5' in \['5', '9'\]"),
    (torch.tensor([5.0]), r"classes must be ints, got 5\.0 in \[5\.0\]"),
    ([5, 9, 5, 2, 9], r"classes must be distinct, got \[5, 9, 5, 2, 9\] \(repeated: \[5, 9\]\)"),
    ([5, 1, 10], r"classes must be labels the loader holds, got \[1, 10\] absent from \[5, 1, 10\]; "
                 r"the loader's labels are \[0, 2, 5, 6, 7, 8, 9\]"),
    ([-1], r"classes must be labels the loader holds, got \[-1\] absent"),
])
def test_select_classes_bad_classes(classes, message):
    with pytest.raises(ValueError, match=rf"^{message}"):
        select_classes(labelled_loader(), classes)


@pytest.mark.parametrize("kw, message", [
    (dict(per_class=0), r"per_class must be an int >= 1 or None, got 0"),
    (dict(per_class=-2), r"per_class must be an int >= 1 or None, got -2"),
    (dict(per_class=1.5), r"per_class must be an int >= 1 or None, got 1\.5"),
    (dict(per_class=True), r"per_class must be an int >= 1 or None, got True"),
    (dict(batch_size=0), r"batch_size must be an int >= 1, got 0"),
    (dict(batch_size=2.5), r"batch_size must be an int >= 1, got 2\.5"),
    (dict(batch_size="4"), r"batch_size must be an int >= 1, got '4'"),
    (dict(seed=-1), r"seed must be an int in \[0, 2\*\*63 - 1\], got -1"),
    (dict(seed=0.5), r"seed must be an int in \[0, 2\*\*63 - 1\], got 0\.5"),
])
def test_select_classes_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        select_classes(labelled_loader(), [5, 9], **kw)


def test_select_classes_needs_a_tensor_loader():
    with pytest.raises(TypeError, match=r"loader must be a TensorLoader, got list"):
        select_classes([(torch.zeros(2, 1), torch.zeros(2))], [0])


# ------------------------------------------------------- finding the files


def test_fake_files_are_read_exactly(fake_fmnist_dir, no_system_copy):
    folder, arrays = fake_fmnist_dir
    for split, n in (("train", SMALL_TRAIN), ("test", SMALL_TEST)):
        X, y = read_fashion_mnist(split, root=folder)
        assert X.dtype == torch.uint8 and X.shape == (n, 28, 28)
        assert y.dtype == torch.int64 and y.shape == (n,)
        assert np.array_equal(X.numpy(), arrays[split][0])
        assert np.array_equal(y.numpy(), arrays[split][1])


def test_read_rejects_unknown_split(fake_fmnist_dir):
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'valid'"):
        read_fashion_mnist("valid", root=fake_fmnist_dir[0])


def test_fashion_mnist_dirs_lists_the_places_in_order(monkeypatch, tmp_path):
    monkeypatch.setenv("LRCOURSE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    places = data.fashion_mnist_dirs(tmp_path / "root")
    assert places == [
        ("$LRCOURSE_DATA", tmp_path / "env"),
        ("root argument", tmp_path / "root"),
        ("user cache", tmp_path / "xdg" / "lrcourse"),
        ("system copy", data.SYSTEM_DIR),
    ]
    monkeypatch.delenv("LRCOURSE_DATA")
    assert [folder for _, folder in data.fashion_mnist_dirs()][:2] == [None, None]


@pytest.fixture
def four_places(monkeypatch, tmp_path, make_fmnist):
    """Fake data in every place searched; the test labels start at 6, 7, 8, 9 there."""
    env, root = tmp_path / "env", tmp_path / "root"
    cache = tmp_path / "xdg" / "lrcourse"
    system = tmp_path / "system"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "SYSTEM_DIR", system)
    for marker, folder in enumerate((env, root, cache, system), start=1):
        make_fmnist(folder, marker)
    return {"env": env, "root": root, "cache": cache, "system": system}


def first_test_label(root=None):
    return int(read_fashion_mnist("test", root)[1][0])


def test_lrcourse_data_beats_root(monkeypatch, four_places):
    monkeypatch.setenv("LRCOURSE_DATA", str(four_places["env"]))
    assert first_test_label(four_places["root"]) == 6


def test_root_beats_user_cache(four_places):
    assert first_test_label(four_places["root"]) == 7


def test_user_cache_beats_system_copy(four_places):
    assert first_test_label() == 8


def test_system_copy_is_last(four_places):
    import shutil

    shutil.rmtree(four_places["cache"])
    assert first_test_label() == 9


def test_incomplete_folder_is_skipped(monkeypatch, tmp_path, make_fmnist, four_places):
    partial = tmp_path / "partial"
    make_fmnist(partial, marker=0, skip={"t10k-labels-idx1-ubyte"})
    monkeypatch.setenv("LRCOURSE_DATA", str(partial))
    assert first_test_label(four_places["root"]) == 7
    monkeypatch.setenv("LRCOURSE_DATA", str(tmp_path / "does-not-exist"))
    assert first_test_label(four_places["root"]) == 7


def test_lrcourse_data_expands_user(monkeypatch, tmp_path, make_fmnist, no_system_copy):
    monkeypatch.setenv("HOME", str(tmp_path))
    make_fmnist(tmp_path / "mydata", marker=3)
    monkeypatch.setenv("LRCOURSE_DATA", "~/mydata")
    assert first_test_label() == 8


def test_torchvision_layout_is_found(tmp_path, make_fmnist, no_system_copy):
    arrays = make_fmnist(tmp_path / "tv", layout="torchvision")
    X, y = read_fashion_mnist("train", root=tmp_path / "tv")
    assert np.array_equal(X.numpy(), arrays["train"][0])
    assert np.array_equal(y.numpy(), arrays["train"][1])


@pytest.mark.parametrize("gz", [True, False, {"train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}],
                         ids=["gzipped", "plain", "mixed"])
def test_gzipped_and_plain_files_read_the_same(tmp_path, make_fmnist, no_system_copy, gz):
    arrays = make_fmnist(tmp_path / "d", gz=gz)
    suffixes = {p.suffix for p in (tmp_path / "d").iterdir()}
    assert suffixes == ({".gz"} if gz is True else {""} if gz is False else {".gz", ""})
    for split in ("train", "test"):
        X, y = read_fashion_mnist(split, root=tmp_path / "d")
        assert np.array_equal(X.numpy(), arrays[split][0])
        assert np.array_equal(y.numpy(), arrays[split][1])


# ------------------------------------------------------ load_fashion_mnist


def test_load_fashion_mnist_tensors(fake_fmnist_dir, no_system_copy):
    folder, arrays = fake_fmnist_dir
    train_iter, test_iter = load_fashion_mnist(16, root=folder)
    assert isinstance(train_iter, TensorLoader) and isinstance(test_iter, TensorLoader)
    assert (train_iter.num_examples, test_iter.num_examples) == (SMALL_TRAIN, SMALL_TEST)
    assert (len(train_iter), len(test_iter)) == (4, 2)  # 50 / 16 and 20 / 16, rounded up
    assert train_iter.shuffle and not test_iter.shuffle
    X, y = next(iter(train_iter))
    assert X.dtype == torch.float32 and X.shape == (16, 1, 28, 28)
    assert y.dtype == torch.int64 and y.shape == (16,)
    for loader, split in ((train_iter, "train"), (test_iter, "test")):
        images, labels = arrays[split]
        assert loader.X.min() == 0 and loader.X.max() == 1
        expected = torch.from_numpy(images.astype(np.float32) / np.float32(255)).unsqueeze(1)
        assert torch.equal(loader.X, expected)
        assert torch.equal(loader.y, torch.from_numpy(labels.astype(np.int64)))
    # the test loader keeps the file's order
    assert torch.equal(torch.cat([y for _, y in test_iter]), torch.from_numpy(arrays["test"][1]).long())


def test_load_fashion_mnist_device(fake_fmnist_dir, no_system_copy):
    train_iter, test_iter = load_fashion_mnist(8, root=fake_fmnist_dir[0], device="cpu")
    assert train_iter.device == test_iter.device == torch.device("cpu")


@pytest.mark.parametrize("limit, n_train, n_test", [(7, 7, 7), (30, 30, 20), (1000, 50, 20), (None, 50, 20)])
def test_load_fashion_mnist_limit(fake_fmnist_dir, no_system_copy, limit, n_train, n_test):
    folder, arrays = fake_fmnist_dir
    train_iter, test_iter = load_fashion_mnist(4, root=folder, limit=limit)
    assert (train_iter.num_examples, test_iter.num_examples) == (n_train, n_test)
    assert torch.equal(train_iter.y, torch.from_numpy(arrays["train"][1][:n_train]).long())


def test_load_fashion_mnist_seed(fake_fmnist_dir, no_system_copy):
    folder = fake_fmnist_dir[0]

    def first_epoch(seed):
        train_iter, _ = load_fashion_mnist(10, root=folder, seed=seed)
        assert train_iter.seed == seed
        return torch.cat([X.sum(dim=(1, 2, 3)) for X, _ in train_iter])

    a, b, c = first_epoch(1), first_epoch(1), first_epoch(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.allclose(a.sort().values, c.sort().values)  # same examples, other order


# ------------------------------------------------------------------ the validation split

def test_validation_split_is_stratified_disjoint_and_the_same_for_every_seed(fake_fmnist_dir, no_system_copy):
    folder, arrays = fake_fmnist_dir
    images, labels = arrays["train"]  # 50 images, labels i % 10: 5 per class
    loaders = [load_fashion_mnist(8, root=folder, valid=20, seed=seed) for seed in (0, 1)]
    (train_a, valid_a, test_a), (train_b, valid_b, _) = loaders
    assert (train_a.num_examples, valid_a.num_examples, test_a.num_examples) == (30, 20, SMALL_TEST)
    assert torch.bincount(valid_a.y, minlength=10).tolist() == [2] * 10  # stratified
    assert torch.equal(valid_a.X, valid_b.X) and torch.equal(train_a.X, train_b.X)  # not the training seed's
    assert not valid_a.shuffle and train_a.shuffle and train_a.seed == 0 and train_b.seed == 1
    # every training image once, in one of the two splits: disjoint and complete
    pixels = lambda X: sorted(map(bytes, (X.squeeze(1) * 255).round().to(torch.uint8).numpy()))  # noqa: E731
    assert sorted(pixels(train_a.X) + pixels(valid_a.X)) == sorted(map(bytes, images))
    assert not set(pixels(train_a.X)) & set(pixels(valid_a.X))


def test_validation_split_with_a_limit_keeps_its_size(fake_fmnist_dir, no_system_copy):
    train_iter, valid_iter, test_iter = load_fashion_mnist(8, root=fake_fmnist_dir[0], valid=10, limit=12)
    assert (train_iter.num_examples, valid_iter.num_examples, test_iter.num_examples) == (12, 10, 12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=12, max_size=80), st.integers(1, 10), st.integers(0, 2**32))
def test_stratified_split_gives_every_class_its_share(labels, valid, seed):
    y = torch.tensor(labels)
    counts = torch.bincount(y, minlength=5)
    present = counts[counts > 0]
    k = len(present)
    share = [valid // k + (i < valid % k) for i in range(k)]
    if any(s > c - 1 for s, c in zip(share, present.tolist())):
        with pytest.raises(ValueError, match=r"^valid=\d+ asks \d+ examples of class"):
            data.stratified_split(y, valid, seed=seed)
        return
    train_idx, valid_idx = data.stratified_split(y, valid, seed=seed)
    assert sorted(train_idx.tolist() + valid_idx.tolist()) == list(range(len(labels)))
    assert torch.bincount(y[valid_idx], minlength=5)[counts > 0].tolist() == share
    again = data.stratified_split(y, valid, seed=seed)
    assert torch.equal(again[1], valid_idx) and valid_idx.tolist() == sorted(valid_idx.tolist())


@pytest.mark.skipif(not data.SYSTEM_DIR.is_dir(), reason="needs the system copy of Fashion-MNIST")
def test_the_books_validation_split_holds_1000_images_of_each_class():
    _, y = read_fashion_mnist("train")
    train_idx, valid_idx = data.stratified_split(y, 10000)
    assert torch.bincount(y[valid_idx]).tolist() == [1000] * 10 and len(train_idx) == 50000
    assert valid_idx[:5].tolist() == data.stratified_split(y, 10000)[1][:5].tolist()


@pytest.mark.parametrize("batch_size, kw, name", [
    (0, {}, "batch_size"), (2.5, {}, "batch_size"), (True, {}, "batch_size"),
    (8, dict(limit=0), "limit"), (8, dict(limit=-5), "limit"), (8, dict(limit=1.5), "limit"),
    (8, dict(seed=-1), "seed"), (8, dict(seed="0"), "seed"), (8, dict(valid=0), "valid"),
])
def test_load_fashion_mnist_bad_arguments(fake_fmnist_dir, batch_size, kw, name):
    with pytest.raises(ValueError, match=rf"^{name} must be an int (>= |in )"):
        load_fashion_mnist(batch_size, root=fake_fmnist_dir[0], **kw)


# ----------------------------------------------------- missing and download


def test_missing_data_offline_explains_everything(monkeypatch, tmp_path, no_system_copy, small_files):
    calls = []

    def fail(folder):
        calls.append(folder)
        raise OSError("no network")

    monkeypatch.setattr(data, "_download", fail)
    env, root = tmp_path / "env-data", tmp_path / "root-data"
    root.mkdir()  # present but empty
    monkeypatch.setenv("LRCOURSE_DATA", str(env))
    cache = data._user_cache()
    with pytest.raises(DataNotFoundError, match=r"^Fashion-MNIST was not found and could not be downloaded") as info:
        load_fashion_mnist(8, root=root)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert f"$LRCOURSE_DATA: {env} (missing)" in message
    assert f"root argument: {root} (incomplete)" in message
    assert f"user cache: {cache} (missing)" in message
    assert f"system copy: {no_system_copy} (missing)" in message
    assert f"Download into {root} failed: OSError: no network" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "set LRCOURSE_DATA" in message
    assert calls == [root]


def test_missing_data_without_env_or_root(monkeypatch, no_system_copy, small_files):
    calls = []

    def fail(folder):
        calls.append(folder)
        raise OSError("no network")

    monkeypatch.setattr(data, "_download", fail)
    with pytest.raises(FileNotFoundError, match=r"\$LRCOURSE_DATA: not set") as info:
        read_fashion_mnist("train")
    assert isinstance(info.value, DataNotFoundError)
    assert "root argument: not set" in str(info.value)
    assert calls == [data._user_cache()]  # the download goes to the user cache
    assert re.search(rf"Download into {re.escape(str(data._user_cache()))} failed: OSError: no network",
                     str(info.value))


def test_download_that_leaves_nothing(monkeypatch, no_system_copy, small_files):
    monkeypatch.setattr(data, "_download", lambda folder: None)
    with pytest.raises(DataNotFoundError, match=r"RuntimeError: the download left no complete set of files"):
        read_fashion_mnist("test")


@pytest.mark.parametrize("use_root", [False, True])
def test_successful_download_is_used(monkeypatch, tmp_path, make_fmnist, no_system_copy, use_root):
    calls, made = [], {}

    def fake_download(folder):
        calls.append(folder)
        made.update(make_fmnist(folder, marker=2, layout="torchvision"))

    monkeypatch.setattr(data, "_download", fake_download)
    root = tmp_path / "root" if use_root else None
    train_iter, test_iter = load_fashion_mnist(8, root=root)
    target = root if use_root else data._user_cache()
    assert calls == [target]
    assert (target / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    assert torch.equal(test_iter.y, torch.from_numpy(made["test"][1]).long())
    # the next call finds the downloaded files and does not download again
    load_fashion_mnist(8, root=root)
    assert len(calls) == 1


# ------------------------------------------------------------- bad files


def test_truncated_file(fake_fmnist_dir, no_system_copy, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for path in fake_fmnist_dir[0].iterdir():  # ungzip every file
        (folder / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DataCorruptError, match=re.escape(str(images)) + r".*truncated"):
        read_fashion_mnist("train", root=folder)
    # the test split is intact and still reads
    assert read_fashion_mnist("test", root=folder)[0].shape == (SMALL_TEST, 28, 28)


def test_truncated_gzip_stream(fake_fmnist_dir, no_system_copy):
    folder = fake_fmnist_dir[0]
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])
    with pytest.raises(DataCorruptError, match=re.escape(str(labels)) + " is not a readable IDX file"):
        read_fashion_mnist("test", root=folder)


def test_gz_name_but_not_gzip(fake_fmnist_dir, no_system_copy):
    folder = fake_fmnist_dir[0]
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.decompress(labels.read_bytes()))
    with pytest.raises(DataCorruptError, match=re.escape(str(labels)) + " is not a readable IDX file"):
        read_fashion_mnist("test", root=folder)


@pytest.mark.parametrize("magic", [b"\x00\x00\x08\x03", b"\x00\x00\x0d\x01", b"\x01\x00\x08\x01"],
                         ids=["images-magic", "float-type", "nonzero-prefix"])
def test_wrong_magic(fake_fmnist_dir, no_system_copy, magic):
    folder = fake_fmnist_dir[0]
    labels = folder / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(magic + raw[4:]))
    with pytest.raises(DataCorruptError,
                       match=re.escape(str(labels)) + " is not an IDX file of 1-d unsigned bytes"):
        read_fashion_mnist("train", root=folder)


def test_wrong_number_of_examples(fake_fmnist_dir, no_system_copy):
    folder = fake_fmnist_dir[0]
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_bytes(np.zeros((SMALL_TEST - 1, 28, 28), np.uint8))))
    with pytest.raises(DataCorruptError, match=re.escape(str(images))
                       + rf" holds shape \({SMALL_TEST - 1}, 28, 28\).*expected \({SMALL_TEST}, 28, 28\)"):
        read_fashion_mnist("test", root=folder)


def test_empty_file(fake_fmnist_dir, no_system_copy):
    folder = fake_fmnist_dir[0]
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(b""))
    with pytest.raises(DataCorruptError, match=re.escape(str(images)) + " is not an IDX file"):
        read_fashion_mnist("test", root=folder)


# ------------------------------------------------- checksums: the real files, corrupted

REAL = Path("/usr/share/datasets/fashion-mnist")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="the system copy /usr/share/datasets/fashion-mnist "
                                "is absent (apt-get install dataset-fashion-mnist)")
REINSTALL = "apt-get install --reinstall dataset-fashion-mnist"


def test_checksums_cover_every_real_file():
    assert sorted(data.CHECKSUMS) == sorted(name for images, labels, _ in data.FILES.values()
                                            for name in (images, labels))
    for images, labels, n in data.FILES.values():
        assert data.CHECKSUMS[images][0] == (n, 28, 28) and data.CHECKSUMS[labels][0] == (n,)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, digest in data.CHECKSUMS.values())
    assert issubclass(DataCorruptError, ValueError) and lrcourse.DataCorruptError is DataCorruptError


@pytest.fixture(scope="module")
def real_raw():
    """``{name: decompressed bytes}`` of the four system files (read once for the module)."""
    return {path.name.removesuffix(".gz"): gzip.decompress(path.read_bytes())
            for path in sorted(REAL.glob("*.gz"))}


@pytest.fixture
def real_copy(tmp_path, real_raw, no_system_copy):
    """A folder with the four real files, decompressed (fast to write); the system copy hidden."""
    folder = tmp_path / "copy"
    folder.mkdir()
    for name, raw in real_raw.items():
        (folder / name).write_bytes(raw)
    return folder


def flip(raw: bytes, offset: int) -> bytes:
    return raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1:]


def checksum_message(path, name, real_raw, corrupted: bytes) -> str:
    """The exact checksum error: the path, the digest found, the one expected, the fix."""
    found = hashlib.sha256(corrupted).hexdigest()
    expected = data.CHECKSUMS[name][1]
    assert expected == hashlib.sha256(real_raw[name]).hexdigest()
    return (f"{path} is corrupted: the SHA-256 checksum of its decompressed content is {found}, "
            f"expected {expected} (header and size are right, so bytes inside it were changed). "
            f"Fix: delete {path} and load again")


@needs_real
def test_real_files_match_their_checksums(real_raw):
    for name, raw in real_raw.items():
        assert hashlib.sha256(raw).hexdigest() == data.CHECKSUMS[name][1], name
    # the MD5s of the decompressed files that loaders publish (e.g. next to torchvision's .gz MD5s)
    assert hashlib.md5(real_raw["train-images-idx3-ubyte"]).hexdigest() == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert hashlib.md5(real_raw["t10k-labels-idx1-ubyte"]).hexdigest() == "15d484375f8d13e6eb1aabb0c3f46965"


@needs_real
def test_one_flipped_byte_in_the_images(real_copy, real_raw):
    images = real_copy / "train-images-idx3-ubyte"
    corrupted = flip(real_raw[images.name], 16 + 28 * 28 * 31_337 + 400)  # one pixel of image 31 337
    images.write_bytes(corrupted)
    with pytest.raises(DataCorruptError) as info:
        read_fashion_mnist("train", root=real_copy)
    assert str(info.value).startswith(checksum_message(images, images.name, real_raw, corrupted))
    assert REINSTALL in str(info.value)
    assert read_fashion_mnist("test", root=real_copy)[1].shape == (10000,)  # the other split is fine


@needs_real
@pytest.mark.parametrize("limit", [None, 100])
def test_one_flipped_byte_in_the_labels(real_copy, real_raw, limit):
    """A label changed to another class still looks valid: only the checksum sees it, in quick mode too."""
    labels = real_copy / "t10k-labels-idx1-ubyte"
    raw = bytearray(real_raw[labels.name])
    raw[8 + 9_999] = (raw[8 + 9_999] + 1) % 10  # the last example, beyond any limit
    labels.write_bytes(bytes(raw))
    with pytest.raises(DataCorruptError, match="^" + re.escape(
            checksum_message(labels, labels.name, real_raw, bytes(raw)))):
        load_fashion_mnist(256, root=real_copy, device="cpu", limit=limit)


@needs_real
def test_truncated_real_gz(real_copy, real_raw):
    gz = real_copy / "t10k-images-idx3-ubyte.gz"
    (real_copy / "t10k-images-idx3-ubyte").unlink()
    gz.write_bytes((REAL / gz.name).read_bytes()[:-1000])  # a download cut short
    with pytest.raises(DataCorruptError, match="^" + re.escape(
            f"{gz} is not a readable IDX file: the file is truncated or damaged (EOFError: Compressed "
            f"file ended before the end-of-stream marker was reached). Fix: delete {gz} and load again")):
        read_fashion_mnist("test", root=real_copy)


@needs_real
def test_flipped_byte_in_the_gz_stream(real_copy):
    gz = real_copy / "t10k-labels-idx1-ubyte.gz"
    (real_copy / "t10k-labels-idx1-ubyte").unlink()
    gz.write_bytes(flip((REAL / gz.name).read_bytes(), 2000))
    with pytest.raises(DataCorruptError, match=re.escape(str(gz)) + r" is not a readable IDX file: the file "
                       r"is truncated or damaged \((BadGzipFile: CRC check failed|error: Error -3)"):
        read_fashion_mnist("test", root=real_copy)


@needs_real
def test_truncated_real_raw(real_copy):
    images = real_copy / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DataCorruptError, match="^" + re.escape(
            f"{images} is truncated: shape (10000, 28, 28) needs 7840000 bytes of data, found 7839900. "
            f"Fix: delete {images}")):
        read_fashion_mnist("test", root=real_copy)


@needs_real
def test_trailing_bytes(real_copy):
    labels = real_copy / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\0")
    with pytest.raises(DataCorruptError, match=re.escape(
            f"{labels} is longer than its header says: shape (10000,) needs 10000 bytes of data, "
            f"found 10001")):
        read_fashion_mnist("test", root=real_copy)


@needs_real
@pytest.mark.parametrize("offset, value, message", [
    (3, 0x03, "is not an IDX file of 1-d unsigned bytes: expected a header starting 00 00 08 01, "
              "found 00 00 08 03"),
    (2, 0x0D, "is not an IDX file of 1-d unsigned bytes: expected a header starting 00 00 08 01, "
              "found 00 00 0d 01"),
    (7, 0x0F, "holds shape (9999,) in 10000 bytes; expected (10000,)"),  # 10000 = 0x2710 -> 0x270F
], ids=["magic-images", "magic-float", "count"])
def test_wrong_header_in_a_real_file(real_copy, real_raw, offset, value, message):
    labels = real_copy / "t10k-labels-idx1-ubyte"
    raw = bytearray(real_raw[labels.name])
    raw[offset] = value
    labels.write_bytes(bytes(raw))
    with pytest.raises(DataCorruptError, match="^" + re.escape(f"{labels} {message}") + ".*Fix: delete"):
        read_fashion_mnist("test", root=real_copy)


@needs_real
def test_corrupt_system_copy_says_reinstall(real_copy, real_raw, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_DIR", real_copy)  # the copy plays the system copy
    labels = real_copy / "train-labels-idx1-ubyte"
    labels.write_bytes(flip(real_raw[labels.name], 100))
    with pytest.raises(DataCorruptError, match=re.escape(str(labels)) + r" is corrupted: the SHA-256 checksum"
                       r".*\. Fix: reinstall the system copy: sudo apt-get install --reinstall "
                       r"dataset-fashion-mnist\.$"):
        load_fashion_mnist(256, device="cpu")


def test_fake_file_of_the_real_shape_fails_its_checksum(tmp_path, no_system_copy, monkeypatch):
    """Right header, right size, wrong content: caught without the real files too."""
    folder = tmp_path / "fake"
    rng = np.random.default_rng(0)
    images = write_idx(folder / "t10k-images-idx3-ubyte",
                       rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), gz=False)
    labels = write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(10000) % 10, gz=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):  # present; never read
        write_idx(folder / name, np.zeros(1, np.uint8), gz=False)
    with pytest.raises(DataCorruptError,
                       match="^" + re.escape(f"{images} is corrupted: the SHA-256 checksum")):
        read_fashion_mnist("test", root=folder)
    # were these the published images, the labels (in a .gz) would be checked next
    checksums = dict(data.CHECKSUMS)
    checksums[images.name] = ((10000, 28, 28), hashlib.sha256(images.read_bytes()).hexdigest())
    monkeypatch.setattr(data, "CHECKSUMS", checksums)
    with pytest.raises(DataCorruptError,
                       match="^" + re.escape(f"{labels} is corrupted: the SHA-256 checksum")):
        read_fashion_mnist("test", root=folder)


# ------------------------------------------------------------- labels


def test_get_fashion_mnist_labels():
    assert get_fashion_mnist_labels(range(10)) == [
        "t-shirt", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle boot"]
    assert get_fashion_mnist_labels(torch.tensor([9, 0, 9])) == ["ankle boot", "t-shirt", "ankle boot"]
    assert get_fashion_mnist_labels(np.array([3], dtype=np.uint8)) == ["dress"]
    assert get_fashion_mnist_labels([]) == []


# ---------------------------------------------------------- the real files


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="the system copy /usr/share/datasets/fashion-mnist is absent "
                           "(apt-get install dataset-fashion-mnist)")
def test_real_system_copy():
    assert data.SYSTEM_DIR == Path("/usr/share/datasets/fashion-mnist")
    train_iter, test_iter = load_fashion_mnist(256, device="cpu")
    assert (train_iter.num_examples, test_iter.num_examples) == (60000, 10000)
    assert (len(train_iter), len(test_iter)) == (235, 40)
    assert torch.equal(torch.bincount(train_iter.y, minlength=10), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(test_iter.y, minlength=10), torch.full((10,), 1000))
    seen = torch.cat([y for _, y in train_iter])
    assert seen.shape == (60000,)
    assert torch.equal(torch.bincount(seen, minlength=10), torch.full((10,), 6000))
    X, _ = next(iter(test_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32
    assert 0 <= float(X.min()) and float(X.max()) <= 1


def test_find_offline_returns_the_first_complete_folder_or_none(tmp_path, make_fmnist,
                                                                no_system_copy):
    from lrcourse.data import find_offline

    assert find_offline() is None
    partial = tmp_path / "partial"
    make_fmnist(partial, skip=("t10k-labels-idx1-ubyte",))
    assert find_offline(root=partial) is None
    complete = tmp_path / "complete"
    make_fmnist(complete, layout="torchvision")
    found = find_offline(root=complete)
    assert sorted(found) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                             "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    assert all(p.parent == complete / "FashionMNIST" / "raw" for p in found.values())


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), batch=st.integers(1, 20), world=st.integers(1, 5), shuffle=st.booleans(),
       drop_last=st.booleans())
def test_the_shards_of_a_pass_are_its_batches_cut_in_pieces(n, batch, world, shuffle, drop_last):
    X = torch.arange(n * 2.0).reshape(n, 2)
    loader = lrcourse.TensorLoader(X, torch.arange(n), batch, shuffle=shuffle, seed=3, drop_last=drop_last)
    whole = list(loader)
    pieces = []
    for r in range(world):
        loader.epoch = 0
        pieces.append(list(loader.shard(r, world)))
    assert loader.epoch == 1 and [len(p) for p in pieces] == [len(whole)] * world
    assert [len(b[1]) for b in whole] == loader.batch_sizes()
    for i, (Xb, yb) in enumerate(whole):
        assert torch.equal(torch.cat([p[i][0] for p in pieces]), Xb)
        assert torch.equal(torch.cat([p[i][1] for p in pieces]), yb)
        assert [len(p[i][1]) for p in pieces] == [len(t) for t in torch.tensor_split(yb, world)]
