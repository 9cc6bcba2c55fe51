"""scripts/book_inputs.py: the full book's cache names chapters that ran with another package."""

import datetime
import importlib.util
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "book_inputs.py"


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A checkout with a package file, a lock, two chapters and an empty execution cache."""
    spec = importlib.util.spec_from_file_location("book_inputs", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for folder in ("lrcourse", "requirements", "chapters", "_build"):
        (tmp_path / folder).mkdir()
    (tmp_path / "lrcourse" / "training.py").write_text("lr = 0.1\n")
    (tmp_path / "requirements" / "lock.txt").write_text("torch==2.15.0\n")
    for name, code in (("01_a.ipynb", "print(1)"), ("02_b.ipynb", "print(2)")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / "chapters" / name)
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(script, "CACHE", tmp_path / "_build" / ".jupyter_cache")
    monkeypatch.setattr(script, "RECORD", tmp_path / "_build" / ".book-inputs.json")
    return script


def cache_chapter(script, name):
    """As a build does: execute (here, pretend to) and store the chapter in the cache."""
    cache = get_cache(str(script.CACHE))
    return cache.cache_notebook_file(str(script.ROOT / "chapters" / name), check_validity=False)


def test_no_cache_means_nothing_to_say(book, capsys):
    for action in ("check", "record", "forget"):
        book.main([action])
    assert capsys.readouterr().err == "" and not book.RECORD.exists()


def test_a_record_made_before_the_script_is_unknown(book, capsys):
    cache_chapter(book, "01_a.ipynb")
    book.main(["check"])
    err = capsys.readouterr().err
    assert "warning: cached 01_a.ipynb ran" in err and "has no record of" in err
    assert "02_b" not in err and "these 1 may show stale outputs" in err


def test_recorded_chapters_are_current_until_the_package_changes(book, capsys):
    start = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    cache_chapter(book, "01_a.ipynb")
    cache_chapter(book, "02_b.ipynb")
    book.main(["record", "--since", start.isoformat()])
    book.main(["check"])
    assert capsys.readouterr().err == ""

    (book.ROOT / "lrcourse" / "training.py").write_text("lr = 0.2\n")
    (book.ROOT / "lrcourse" / "new.py").write_text("")
    book.main(["check"])
    err = capsys.readouterr().err
    for name in ("01_a.ipynb", "02_b.ipynb"):
        assert (f"warning: cached {name} ran" in err
                and "before these changed: lrcourse/new.py, lrcourse/training.py" in err)
    assert "these 2 may show stale outputs" in err and "make book-rerun" in err


def test_record_leaves_older_records_unknown(book, capsys):
    cache_chapter(book, "01_a.ipynb")
    later = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    cache_chapter(book, "02_b.ipynb")
    book.main(["record", "--since", later.isoformat()])
    book.main(["check"])
    err = capsys.readouterr().err
    assert "01_a.ipynb ran" in err and "02_b" not in err


def test_forget_drops_only_stale_records(book, capsys):
    start = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    cache_chapter(book, "01_a.ipynb")
    book.main(["record", "--since", start.isoformat()])
    (book.ROOT / "requirements" / "lock.txt").write_text("torch==2.16.0\n")
    later = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    cache_chapter(book, "02_b.ipynb")
    book.main(["record", "--since", later.isoformat()])
    book.main(["forget"])
    assert capsys.readouterr().err == "01_a.ipynb: cached outputs dropped, it runs again\n"
    cache = get_cache(str(book.CACHE))
    with pytest.raises(KeyError):
        cache.match_cache_file(str(book.ROOT / "chapters" / "01_a.ipynb"))
    cache.match_cache_file(str(book.ROOT / "chapters" / "02_b.ipynb"))
    book.main(["check"])
    assert capsys.readouterr().err == ""
