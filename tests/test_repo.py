"""The book and the repository stay in step: setup cells, outputs, toc, pins."""
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
URL = CONFIG["repository"]["url"]


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def setup_cell(url):
    """The first code cell every chapter must have, installing from the repository URL."""
    return ("# Setup: in Colab, install the lrcourse package; anywhere else this cell does nothing.\n"
            "import sys\n\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install -q "lrcourse @ git+{url}"')


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks under chapters/"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_configured_repository(nb):
    first_code = next(c for c in cells(nb) if c["cell_type"] == "code")
    assert source(first_code) == setup_cell(URL)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_except_checked_cells(nb):
    for i, cell in enumerate(cells(nb)):
        if cell["cell_type"] != "code":
            continue
        if "NBVAL_CHECK_OUTPUT" not in source(cell):
            assert not cell.get("outputs"), f"cell {i} is committed with outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
        else:  # nbval skips the comparison for a cell that looks unrun
            assert cell.get("outputs"), f"cell {i} is checked by nbval but has no stored output"
            assert cell.get("execution_count"), f"checked cell {i} needs an execution count"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_shape(nb):
    """Opens with what the reader learns; ends with a summary and exercises with hidden solutions."""
    text = "\n".join(source(c) for c in cells(nb) if c["cell_type"] == "markdown")
    assert text.lstrip().startswith("# "), "a chapter starts with its title"
    assert "you will" in text.split("##")[0], "the opening says what the reader will learn"
    assert "## Summary" in text and "## Exercises" in text
    assert "<details>" in text and "<summary>Solution" in text
    assert "cuda" not in "\n".join(source(c) for c in cells(nb) if c["cell_type"] == "code")


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for nb in NOTEBOOKS:
        assert f"chapters/{nb.stem}" in toc
    for name in re.findall(r"file:\s*(\S+)", toc):
        assert any((ROOT / f"{name}{ext}").exists() for ext in ("", ".md", ".ipynb")), name


def test_colab_and_repository_configured():
    assert URL.startswith("https://github.com/")
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["execute"]["execute_notebooks"] == "cache"


def test_environment_yml_mirrors_the_package_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    for dep in deps:
        assert dep in pip, f"{dep} is missing from environment.yml"


def test_torch_pair_is_pinned_and_package_ranges_are_loose():
    lock = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    assert "torch==2.15.0" in lock and "torchvision==0.29.2" in lock
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert "==" not in dep and "<" not in dep, f"{dep}: keep ranges loose for Colab"


def test_d2l_is_a_benchmark_dependency_only():
    """d2l is the yardstick of benchmarks/vs_d2l.py: pinned apart, never imported by the package or a chapter."""
    pins = [line for line in (ROOT / "requirements" / "bench.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert "d2l==1.0.3" in pins and all("==" in line for line in pins)
    lock = (ROOT / "requirements" / "lock.txt").read_text().lower()
    assert not any(line.split("==")[0].lower() + "==" in lock for line in pins)
    imports = re.compile(r"^\s*(import d2l|from d2l)", re.M)
    texts = [p.read_text() for p in (ROOT / "lrcourse").glob("*.py")]
    texts += ["\n".join(source(c) for c in cells(p)) for p in (ROOT / "chapters").glob("*.ipynb")]
    assert texts and not any(imports.search(t) for t in texts)
