"""Shared fixtures: an isolated environment, tiny valid Fashion-MNIST files, the browser test's report."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import lrcourse.data as data

# Sizes of the fake splits (the real ones hold 60 000 and 10 000 examples).
SMALL_TRAIN, SMALL_TEST = 50, 20

# What the browser test (test_browser.py) has to say at the end of the run.
BROWSER_REPORT = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def browser_report(pytestconfig):
    """``{"screenshots": [paths], "blocked": {page: [outside URLs]}}``, printed after the run."""
    return pytestconfig.stash.setdefault(BROWSER_REPORT, {"screenshots": [], "blocked": {}})


def pytest_terminal_summary(terminalreporter, config):
    report = config.stash.get(BROWSER_REPORT, None)
    if not report or not report["screenshots"]:
        return
    shots = report["screenshots"]
    folder = Path(os.path.commonpath([p.parent for p in shots]))
    terminalreporter.section("browser")
    terminalreporter.write_line(f"{len(shots)} screenshots in {folder}")
    for page, urls in report["blocked"].items():
        terminalreporter.write_line(f"{page}: blocked requests outside localhost: {', '.join(urls)}")


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium under Playwright, one for the session: test_browser.py and
    test_frontends.py share it (Playwright's sync API runs one instance per thread)."""
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                   "(`sudo apt-get install chromium`; `make test` installs it when run as root)")
        if os.geteuid() == 0:  # make test and .ci/run install it as root: its absence is a failure
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make test` installs requirements/lock.txt",
                    pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' tensors are tiny: one intra-op thread is fastest, and far faster on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def cpu_unless_marked(request, monkeypatch):
    """The tests compare with hand-written loops and PyTorch bit for bit: they train on the CPU, even on a
    machine with a GPU (whose kernels are not deterministic). Tests marked ``device`` (test_gpu.py) keep
    the default device, the GPU where there is one: what the chapters get."""
    if request.node.get_closest_marker("device") is None:
        import torch

        import lrcourse.data
        import lrcourse.lr_finder
        import lrcourse.training

        for module in (lrcourse.data, lrcourse.lr_finder, lrcourse.training):
            monkeypatch.setattr(module, "try_gpu", lambda i=0: torch.device("cpu"))


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path_factory):
    """No LRCOURSE_DATA, a private empty user cache, no network, no stale reads."""
    monkeypatch.delenv("LRCOURSE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))

    def no_download(folder):  # a test that reaches the network by mistake fails fast
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(data, "_download", no_download)
    data._read_split.cache_clear()
    yield
    data._read_split.cache_clear()


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """Hide /usr/share/datasets/fashion-mnist: SYSTEM_DIR points at a missing folder."""
    missing = tmp_path / "no-system-copy"
    monkeypatch.setattr(data, "SYSTEM_DIR", missing)
    return missing


@pytest.fixture
def small_files(monkeypatch):
    """Make lrcourse.data expect 50 training and 20 test examples."""
    files = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", SMALL_TRAIN),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", SMALL_TEST),
    }
    monkeypatch.setattr(data, "FILES", files)
    return files


def idx_bytes(array: np.ndarray, *, type_code: int = 0x08) -> bytes:
    """An IDX file's bytes: magic (0, 0, type, ndim), big-endian dims, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, type_code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> Path:
    raw = idx_bytes(array)
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def fake_arrays(n: int, marker: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images holding both 0 and 255, and labels (i + marker) % 10."""
    rng = np.random.default_rng(1000 + marker)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = ((np.arange(n) + marker) % 10).astype(np.uint8)
    return images, labels


@pytest.fixture
def make_fmnist(small_files):
    """``make(folder, marker=0, gz=True, layout='flat'|'torchvision', skip=())``.

    Writes the four small files (``gz`` may be a bool or a set of the file
    names to gzip) and returns ``{split: (images, labels)}`` as numpy arrays.
    The labels of a folder made with ``marker`` start at ``marker % 10``, so a
    test can tell which folder was read.
    """

    def make(folder, marker=0, *, gz=True, layout="flat", skip=()):
        folder = Path(folder)
        target = folder / "FashionMNIST" / "raw" if layout == "torchvision" else folder
        arrays = {}
        for split, (images_name, labels_name, n) in small_files.items():
            images, labels = fake_arrays(n, marker + (0 if split == "train" else 5))
            arrays[split] = (images, labels)
            for name, array in ((images_name, images), (labels_name, labels)):
                if name in skip:
                    continue
                zipped = gz if isinstance(gz, bool) else name in gz
                write_idx(target / name, array, gz=zipped)
        return arrays

    return make


@pytest.fixture
def fake_fmnist_dir(tmp_path, make_fmnist):
    """``(folder, arrays)``: a folder holding the four small gzipped files and their contents."""
    folder = tmp_path / "fmnist"
    arrays = make_fmnist(folder)
    return folder, arrays
