"""Fashion-MNIST, found offline first, held on the device as tensors.

Where the data comes from, in this order (the first folder that holds all four
files wins; each file may be gzipped or not, directly in the folder or in
torchvision's ``FashionMNIST/raw`` sub-folder):

1. the folder named by the environment variable ``LRCOURSE_DATA``;
2. the ``root`` argument;
3. the user cache, ``$XDG_CACHE_HOME/lrcourse`` (default ``~/.cache/lrcourse``);
4. the system copy ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

Only when none holds the files does torchvision download them (into ``root``,
else the user cache). When that fails too, :class:`DataNotFoundError` lists
every place searched and the two ways to fix it.

Every file is checked when it is read: its IDX header, its size and the
SHA-256 of its decompressed content (:data:`CHECKSUMS`), so a truncated
download or a flipped bit on disk never reaches training. A file that fails
raises :class:`DataCorruptError`, naming the file, what was expected, what
was found and how to fix it. The check costs about 0.03 s for all four files
(next to 0.3 s to decompress them) and runs once per file and process
(``limit=`` too: it slices after the whole file is checked).

:class:`TensorLoader` replaces ``DataLoader`` for data that fits in memory:
the whole split is one tensor on the device and a batch is a slice of a
permutation drawn from ``(seed, epoch)``, so there are no worker processes,
no per-batch host-to-device copies, and every epoch's order is reproducible.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from .checks import check_device, check_flag, check_int, check_seed
from .config import try_gpu

__all__ = [
    "TensorLoader",
    "DataNotFoundError",
    "DataCorruptError",
    "CHECKSUMS",
    "load_fashion_mnist",
    "select_classes",
    "fashion_mnist_dirs",
    "find_offline",
    "read_fashion_mnist",
    "get_fashion_mnist_labels",
    "stratified_split",
    "VALID_SEED",
    "SYSTEM_DIR",
]

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

TEXT_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")

# split -> (images file, labels file, number of examples)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}


# name -> (shape, SHA-256 of the decompressed file: IDX header and data). Computed from Debian's
# dataset-fashion-mnist (0.0~git20200523.55506a9-1); the same SHA-256s are pinned by other
# Fashion-MNIST loaders, and the files' MD5s match the published ones of the decompressed files
# (f4a8712d..., 9018921c..., 8181f547..., 15d48437...). Debian's .gz files themselves hash
# differently from Zalando's originals (torchvision's MD5s): strip-nondeterminism removed the
# file name and time from the gzip headers; the compressed data is the same. Hence: decompressed.
CHECKSUMS = {
    "train-images-idx3-ubyte": ((60000, 28, 28),
                                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": ((60000,),
                                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": ((10000, 28, 28),
                               "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": ((10000,),
                               "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


class DataNotFoundError(FileNotFoundError):
    """Fashion-MNIST is nowhere to be found and could not be downloaded."""


class DataCorruptError(ValueError):
    """A Fashion-MNIST file is unreadable, truncated or corrupted (wrong header, size or checksum).

    The message names the file, what was expected, what was found, and how
    to get a good copy back.
    """


def get_fashion_mnist_labels(labels) -> list[str]:
    """The text label of each numeric label (0 → 't-shirt', ..., 9 → 'ankle boot').

    ``labels``: a sequence, array or tensor of ints in 0-9.
    """
    values = labels.tolist() if isinstance(labels, (torch.Tensor, np.ndarray)) else labels
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"labels must be a sequence of class indices 0-9, got {labels!r}") from None
    bad = [i for i in values if isinstance(i, bool) or not isinstance(i, (int, np.integer))
           or not 0 <= i < len(TEXT_LABELS)]
    if bad:
        raise ValueError(f"labels must be class indices 0-9 (ints), got {bad[:5]}")
    return [TEXT_LABELS[i] for i in values]


class TensorLoader:
    """Mini-batches ``(X[idx], y[idx])`` sliced from tensors that stay on their device.

    ``len(loader)`` is the number of batches per epoch,
    ``ceil(n / batch_size)`` (``floor`` with ``drop_last=True``). With
    ``shuffle=True`` each pass over the loader uses a new permutation drawn
    from ``(seed, epoch)``; ``epoch`` counts the passes started so far, so a
    run can be resumed by setting it, and :meth:`reseed` starts over.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0, drop_last: bool = False):
        check_int("batch_size", batch_size, minimum=1)
        check_seed(seed)
        check_flag("shuffle", shuffle)
        check_flag("drop_last", drop_last)
        if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"X and y must be tensors, got {type(X).__name__} and {type(y).__name__}")
        if X.dim() == 0 or y.dim() == 0:
            raise ValueError(f"X and y must have a first dimension (the examples), got shapes "
                             f"{tuple(X.shape)} and {tuple(y.shape)}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must hold the same number of examples, got {X.shape[0]} and {y.shape[0]}")
        if X.device != y.device:
            raise ValueError(f"X and y must be on the same device, got {X.device} and {y.device}")
        if X.shape[0] == 0:
            raise ValueError("X and y hold no examples")
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = 0

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def num_examples(self) -> int:
        return self.X.shape[0]

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def reseed(self, seed: int) -> None:
        """Start the shuffling over: epoch 0 of ``seed``."""
        check_seed(seed)
        self.seed, self.epoch = int(seed), 0

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of the examples in pass ``epoch`` (on the data's device)."""
        check_int("epoch", epoch, minimum=0)
        state = np.random.SeedSequence([self.seed, epoch]).generate_state(1, dtype=np.uint64)[0]
        gen = torch.Generator().manual_seed(int(state))
        return torch.randperm(self.num_examples, generator=gen).to(self.device)

    def __iter__(self):
        return self.shard(0, 1)

    def batch_sizes(self) -> list[int]:
        """The number of examples in each batch of a pass (all ``batch_size`` but maybe the last)."""
        n, b = self.num_examples, self.batch_size
        return [min(b, n - i * b) for i in range(len(self))]

    def shard(self, rank: int, world_size: int):
        """One pass, as process ``rank`` of ``world_size`` sees it: piece ``rank`` of every batch.

        Each batch of the pass (the same batches ``iter(loader)`` gives, from
        the same permutation of ``(seed, epoch)``) is cut into ``world_size``
        contiguous pieces as ``torch.tensor_split`` cuts it: a batch of ``s``
        examples gives pieces of ``s // world_size`` or one more. Together
        the ranks see each batch exactly once. Advances ``epoch`` as a pass
        does. ``shard(0, 1)`` is the whole pass.
        """
        check_int("world_size", world_size, minimum=1)
        check_int("rank", rank, minimum=0)
        if rank >= world_size:
            raise ValueError(f"rank must be < world_size ({world_size}), got {rank}")
        return self._pieces(rank, world_size)

    def _pieces(self, rank: int, world_size: int):
        epoch, self.epoch = self.epoch, self.epoch + 1
        X, y = self.X, self.y
        perm = self.permutation(epoch) if self.shuffle else None
        for i, size in enumerate(self.batch_sizes()):
            q, r = divmod(size, world_size)
            lo = i * self.batch_size + rank * q + min(rank, r)
            hi = lo + q + (rank < r)
            if perm is None:
                yield X[lo:hi], y[lo:hi]
            else:
                idx = perm[lo:hi]
                yield X.index_select(0, idx), y.index_select(0, idx)

    def __repr__(self) -> str:
        return (f"TensorLoader({self.num_examples} examples, batch_size={self.batch_size}, "
                f"{len(self)} batches, shuffle={self.shuffle}, device={self.device})")


def _check_classes(classes, labels: torch.Tensor) -> list[int]:
    """``classes`` as a list of distinct Python ints, each one of ``labels``' values."""
    values = classes.tolist() if isinstance(classes, (torch.Tensor, np.ndarray)) else classes
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"classes must be a sequence of ints, got {classes!r}") from None
    if not values:
        raise ValueError(f"classes must name at least one label, got {classes!r}")
    bad = [c for c in values if isinstance(c, bool) or not isinstance(c, (int, np.integer))]
    if bad:
        raise ValueError(f"classes must be ints, got {bad[0]!r} in {values!r}")
    values = [int(c) for c in values]
    repeated = sorted({c for c in values if values.count(c) > 1})
    if repeated:
        raise ValueError(f"classes must be distinct, got {values} (repeated: {repeated})")
    present = torch.unique(labels).tolist()
    absent = [c for c in values if c not in present]
    if absent:
        raise ValueError(f"classes must be labels the loader holds, got {absent} absent from "
                         f"{values}; the loader's labels are {present}")
    return values


def select_classes(loader: TensorLoader, classes, *, per_class: int | None = None,
                   batch_size: int | None = None, shuffle: bool | None = None,
                   seed: int | None = None) -> TensorLoader:
    """A new :class:`TensorLoader` over the examples of ``loader`` whose label is in ``classes``.

    The labels are renumbered ``0 .. len(classes) - 1`` in the order given:
    ``classes[i]`` becomes label ``i`` (int64). With ``classes=[5, 6, 7, 8, 9]``
    label 5 becomes 0 and label 9 becomes 4, so a 5-way head can learn them;
    ``classes=[9, 5]`` makes 9 → 0 and 5 → 1. ``per_class`` keeps only the
    first ``per_class`` examples of each class in the loader's tensor order
    (all of them when None), so a small fine-tuning set is the same every
    time. The kept examples stay in the loader's order and on its device;
    ``batch_size``, ``shuffle`` and ``seed`` default to the loader's own, and
    ``drop_last`` is the loader's. ``loader`` itself is left unchanged; the
    new loader starts at epoch 0.

    Raises ``ValueError`` when ``classes`` is empty, holds a repeat, a non-int
    or a label the loader does not hold, or when ``per_class``,
    ``batch_size`` or ``seed`` is out of range.
    """
    if not isinstance(loader, TensorLoader):
        raise TypeError(f"loader must be a TensorLoader, got {type(loader).__name__}")
    classes = _check_classes(classes, loader.y)
    check_int("per_class", per_class, minimum=1, allow_none=True)
    batch_size = loader.batch_size if batch_size is None else batch_size  # TensorLoader checks both
    shuffle = loader.shuffle if shuffle is None else shuffle
    seed = loader.seed if seed is None else seed
    # match[i, j]: example i has label classes[j]; the running count down column j is
    # the example's rank within its class, so the first per_class of each stay True
    match = loader.y.unsqueeze(1) == torch.tensor(classes, device=loader.device)
    if per_class is not None:
        match &= match.cumsum(dim=0) <= per_class
    idx = match.any(dim=1).nonzero().squeeze(1)
    y = match[idx].long().argmax(dim=1)  # the one True column: the new label
    return TensorLoader(loader.X.index_select(0, idx), y, batch_size, shuffle=shuffle, seed=seed,
                        drop_last=loader.drop_last)


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lrcourse"


def fashion_mnist_dirs(root=None) -> list[tuple[str, Path | None]]:
    """The places searched, in order, as ``(description, folder or None)``."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder (a str or os.PathLike) or None, got {type(root).__name__} "
                        f"{root!r}")
    env = os.environ.get("LRCOURSE_DATA")
    return [
        ("$LRCOURSE_DATA", Path(env).expanduser() if env else None),
        ("root argument", Path(root).expanduser() if root is not None else None),
        ("user cache", _user_cache()),
        ("system copy", SYSTEM_DIR),
    ]


def _find_file(folder: Path, name: str) -> Path | None:
    for sub in (folder, folder / "FashionMNIST" / "raw"):
        for candidate in (sub / name, sub / (name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _find_all(folder: Path) -> dict[str, Path] | None:
    found = {}
    for images, labels, _ in FILES.values():
        for name in (images, labels):
            path = _find_file(folder, name)
            if path is None:
                return None
            found[name] = path
    return found


def _download(folder: Path) -> None:
    """Let torchvision download Fashion-MNIST into ``folder/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    for train in (True, False):
        FashionMNIST(root=str(folder), train=train, download=True)


def find_offline(root=None) -> dict[str, Path] | None:
    """The four files from the first searched folder that holds them all, else None."""
    for _, folder in fashion_mnist_dirs(root):
        if folder is not None and folder.is_dir():
            found = _find_all(folder)
            if found:
                return found
    return None


def _locate(root=None) -> dict[str, Path]:
    found = find_offline(root)
    if found:
        return found
    places = fashion_mnist_dirs(root)
    target = Path(root).expanduser() if root is not None else _user_cache()
    try:
        _download(target)
        found = _find_all(target)
        if not found:
            raise RuntimeError(f"the download left no complete set of files in {target}")
        return found
    except Exception as err:  # no network, no permission, a broken mirror...
        reason = f"{type(err).__name__}: {err}"
    lines = ["Fashion-MNIST was not found and could not be downloaded.",
             "Looked for the four files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
             "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz) in:"]
    for desc, folder in places:
        if folder is None:
            lines.append(f"  - {desc}: not set")
        else:
            state = "incomplete" if folder.is_dir() else "missing"
            lines.append(f"  - {desc}: {folder} ({state})")
    lines += [f"Download into {target} failed: {reason}",
              "Fix it in one of two ways:",
              "  1. install the system copy: apt-get install dataset-fashion-mnist (Debian, Ubuntu), or",
              "  2. copy the four files into a folder and set LRCOURSE_DATA to it (or pass root=...);"
              " with internet access, torchvision downloads them by itself."]
    raise DataNotFoundError("\n".join(lines))


def _fix_hint(path: Path) -> str:
    """How to get a good copy of ``path`` back."""
    reinstall = "apt-get install --reinstall dataset-fashion-mnist"
    if path.is_relative_to(SYSTEM_DIR):
        return f"Fix: reinstall the system copy: sudo {reinstall}."
    return (f"Fix: delete {path} and load again (the next complete copy is used, else torchvision "
            f"downloads the files again), or set LRCOURSE_DATA to a good copy such as the system one "
            f"({SYSTEM_DIR}, restored by: sudo {reinstall}).")


def _corrupt(path: Path, problem: str) -> DataCorruptError:
    return DataCorruptError(f"{path} {problem}. {_fix_hint(path)}")


def _checksum(path: Path, shape: tuple[int, ...]) -> str | None:
    """The SHA-256 the file must have: the published one for a Fashion-MNIST file of its real shape.

    None only for a shape no release has, which happens when the tests shrink
    :data:`FILES` to read their own small files (conftest's ``small_files``).
    """
    name = path.name.removesuffix(".gz")
    expected = CHECKSUMS.get(name)
    return expected[1] if expected is not None and expected[0] == shape else None


def _read_idx(path: Path, expected_shape: tuple[int, ...], sha256: str | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (magic 0x0801 labels, 0x0803 images), checked.

    Checks, in order: the gzip stream (if ``.gz``), the header, the size, and
    (when ``sha256`` is given) the SHA-256 of the decompressed bytes. Any
    failure raises :class:`DataCorruptError` naming ``path``.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise _corrupt(path, f"is not a readable IDX file: the file is truncated or damaged "
                             f"({type(err).__name__}: {err})") from err
    ndim = len(expected_shape)
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != ndim:
        raise _corrupt(path, f"is not an IDX file of {ndim}-d unsigned bytes: expected a header "
                             f"starting 00 00 08 {ndim:02x}, found {raw[:4].hex(' ') or 'an empty file'} "
                             f"(the file may be truncated or damaged)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size, found = header + math.prod(expected_shape), len(raw) - header
    if shape != expected_shape:
        raise _corrupt(path, f"holds shape {shape} in {found} bytes; expected {expected_shape} "
                             f"(a damaged header, or the file may be truncated)")
    if len(raw) != size:
        what = "truncated" if len(raw) < size else "longer than its header says"
        raise _corrupt(path, f"is {what}: shape {shape} needs {size - header} bytes of data, "
                             f"found {found}")
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise _corrupt(path, f"is corrupted: the SHA-256 checksum of its decompressed content is "
                                 f"{digest}, expected {sha256} (header and size are right, so "
                                 f"bytes inside it were changed)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=4)
def _read_split(images: Path, labels: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    X_shape, y_shape = (n, 28, 28), (n,)
    return (_read_idx(images, X_shape, _checksum(images, X_shape)),
            _read_idx(labels, y_shape, _checksum(labels, y_shape)))


def read_fashion_mnist(split: str, root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One split (``'train'`` or ``'test'``) as uint8 images ``(n, 28, 28)`` and int64 labels.

    Raises :class:`DataCorruptError` when a file is unreadable, truncated or
    fails its checksum (:data:`CHECKSUMS`), :class:`DataNotFoundError` when
    no copy is found.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    found = _locate(root)
    images, labels, n = FILES[split]
    X, y = _read_split(found[images], found[labels], n)
    return torch.from_numpy(X.copy()), torch.from_numpy(y.astype(np.int64))


VALID_SEED = 20261201  # the validation split's own seed: the same images whatever the training seed


def stratified_split(labels: torch.Tensor, valid: int, *, seed: int = VALID_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train_idx, valid_idx)`` that split ``labels`` into two disjoint parts, stratified by class.

    The validation part holds ``valid`` examples, ``valid / K`` of each of the
    ``K`` classes (where ``valid`` is not a multiple of ``K``, the first
    ``valid mod K`` classes in label order give one more), so every class
    keeps its share: ``round(valid * n_c / n)`` would differ by at most one.
    Which examples of a class are held out is a random draw from ``seed``
    alone (a NumPy ``Generator``), never from the training seed, so every
    run of the book validates on the same images. Both index tensors are
    sorted (the file's order) and together cover every example once.
    Raises ``ValueError`` when a class has too few examples to give its share.
    """
    check_int("valid", valid, minimum=1)
    check_seed(seed)
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    classes = np.unique(y)
    share = np.full(len(classes), valid // len(classes))
    share[:valid % len(classes)] += 1
    rng = np.random.Generator(np.random.PCG64(seed))
    held = []
    for c, k in zip(classes, share):
        members = np.flatnonzero(y == c)
        if k > len(members) - 1:
            raise ValueError(f"valid={valid} asks {k} examples of class {c}, which has {len(members)} "
                             f"(and training needs at least one): ask for at most "
                             f"{len(classes) * (min(np.bincount(y)[classes]) - 1)}")
        held.append(rng.choice(members, size=k, replace=False))
    valid_idx = np.sort(np.concatenate(held))
    train_idx = np.setdiff1d(np.arange(len(y)), valid_idx)
    return torch.from_numpy(train_idx), torch.from_numpy(valid_idx)


def load_fashion_mnist(batch_size: int, *, valid: int | None = None, root=None, device=None,
                       limit: int | None = None, seed: int = 0):
    """Fashion-MNIST as ``(train_iter, test_iter)``, or ``(train_iter, valid_iter, test_iter)`` with ``valid``.

    Each yields ``(X, y)``: ``X`` float32 of shape ``(B, 1, 28, 28)`` with
    values in [0, 1] (pixel / 255), ``y`` int64 class indices 0-9. The
    training loader is reshuffled every epoch from ``seed``; the validation
    and test loaders keep the file's order.

    ``valid``: hold out this many of the 60 000 training images as a
    validation split (:func:`stratified_split`: ``valid / 10`` per class,
    drawn from the fixed :data:`VALID_SEED`, not from ``seed``); the training
    loader holds the others. Every decision (a grid rate, a plateau monitor,
    a best epoch) is taken on it; the test set gives only the reported
    number. ``None`` (the default) returns the two loaders of d2l's
    ``load_data_fashion_mnist``.

    ``limit`` keeps only the first ``limit`` examples of the training split
    (after the validation images are held out) and of the test split; the
    validation split keeps its ``valid`` images. ``device`` defaults to
    :func:`try_gpu`. Raises ``ValueError`` for a bad argument before reading
    anything, :class:`DataCorruptError` for a damaged file.
    """
    check_int("batch_size", batch_size, minimum=1)
    check_int("valid", valid, minimum=1, allow_none=True)
    check_int("limit", limit, minimum=1, allow_none=True)
    check_seed(seed)
    device = check_device(device) if device is not None else try_gpu()
    if valid is not None and valid >= FILES["train"][2]:
        raise ValueError(f"valid must be an int in [1, {FILES['train'][2] - 10}] (training keeps the rest), "
                         f"got {valid!r}")

    def loader(X, y, shuffle):
        X = X.to(device).unsqueeze(1).float().div_(255)
        return TensorLoader(X, y.to(device), batch_size, shuffle=shuffle, seed=seed)

    X, y = read_fashion_mnist("train", root)
    X_test, y_test = read_fashion_mnist("test", root)
    held_out = None
    if valid is not None:
        train_idx, valid_idx = stratified_split(y, valid)
        held_out = loader(X[valid_idx], y[valid_idx], False)
        X, y = X[train_idx], y[train_idx]
    if limit is not None:
        X, y, X_test, y_test = X[:limit], y[:limit], X_test[:limit], y_test[:limit]
    train_iter, test_iter = loader(X, y, True), loader(X_test, y_test, False)
    return (train_iter, test_iter) if held_out is None else (train_iter, held_out, test_iter)
