"""pybullet (the scene generator, extra ``generate``) and matplotlib (the benchmarks' figures, extra
``bench``) are imported only where needed, and their absence is one error line naming the extra."""
import subprocess
import sys

import pytest

from reid.cli import MissingDependencyError, import_optional


@pytest.mark.slow
def test_the_tracker_and_the_embedder_import_neither_pybullet_nor_matplotlib():
    code = ("import sys, tracker, reid, reid.embedder, tracker.run; "
            "heavy = [m for m in ('pybullet', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_import_optional_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybullet", None)
    with pytest.raises(MissingDependencyError) as caught:
        import_optional("pybullet", "the scene generator", "generate")
    assert str(caught.value) == "the scene generator needs pybullet: pip install 'where-did-i-see-it[generate]'"
    assert isinstance(caught.value, ImportError)
    assert import_optional("json", "x", "y") is sys.modules["json"]


def test_an_import_error_inside_an_installed_package_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "installed_but_broken").mkdir()
    (tmp_path / "installed_but_broken" / "__init__.py").write_text("import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        import_optional("installed_but_broken", "x", "y")
    assert caught.value.name == "no_such_dependency_here"
    assert not isinstance(caught.value, MissingDependencyError)   # a real error of an installed package, kept
    with pytest.raises(MissingDependencyError, match=r"^x needs no_such_package_here: pip install .*\[extra\]'$"):
        import_optional("no_such_package_here.sub", "x", "extra")


def _without(monkeypatch, *modules):
    """Make ``modules`` (and everything imported under them) look uninstalled for this test."""
    for name in [m for m in sys.modules if m in modules or m.startswith(tuple(f"{m}." for m in modules))]:
        monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _one_error_line(capsys, caught):
    err = capsys.readouterr().err
    assert caught.value.code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_the_generator_without_pybullet_is_one_line(tmp_path, monkeypatch, capsys):
    from reid.data import generate
    _without(monkeypatch, "pybullet")
    monkeypatch.delitem(sys.modules, "reid.data.render", raising=False)
    with pytest.raises(MissingDependencyError, match=r"\[generate\]"):
        generate.generate_scene(tmp_path, index=0, frames=2, size=(32, 24))
    with pytest.raises(SystemExit) as caught:
        generate.main(["--out", str(tmp_path), "--frames", "2", "--size", "32x24"])
    err = _one_error_line(capsys, caught)
    assert "pybullet" in err and "pip install 'where-did-i-see-it[generate]'" in err
    assert not (tmp_path / "scans" / "scene0000_00").exists()


def test_the_generator_benchmark_without_pybullet_is_one_line(tmp_path, monkeypatch, capsys):
    from benchmarks import generator
    _without(monkeypatch, "pybullet")
    monkeypatch.delitem(sys.modules, "reid.data.render", raising=False)
    with pytest.raises(SystemExit) as caught:
        generator.main(["--out", str(tmp_path), "--rooms", "1", "--frames", "2"])
    assert "where-did-i-see-it[generate]" in _one_error_line(capsys, caught)


@pytest.mark.parametrize("module, argv", [
    ("benchmarks.reid", ["--data", "{tmp}", "--out", "{tmp}/out", "--methods", "colour-histogram"]),
    ("benchmarks.robustness", ["--data", "{tmp}", "--scenes", "scene0000_00", "--out", "{tmp}/out"]),
    ("benchmarks.speed", ["--out", "{tmp}/out"]),
    ("benchmarks.real_neighbours", ["--images", "{tmp}", "--boxes", "{tmp}/b.json", "--out", "{tmp}/n.png"]),
])
def test_the_benchmarks_without_matplotlib_are_one_line(module, argv, tmp_path, monkeypatch, capsys):
    import importlib
    main = importlib.import_module(module).main
    from benchmarks import plots
    _without(monkeypatch, "matplotlib")
    with pytest.raises(MissingDependencyError, match=r"drawing the benchmark figures needs matplotlib: .*\[bench\]"):
        plots.pyplot()
    with pytest.raises(SystemExit) as caught:
        main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = _one_error_line(capsys, caught)
    assert "matplotlib" in err and "pip install 'where-did-i-see-it[bench]'" in err
    assert not (tmp_path / "out").exists()   # refused before any work
