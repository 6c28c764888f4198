"""The mutation driver's selection and statistics helpers (no JAX runs)."""

import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts",
                     "mutation_test.py")
_spec = importlib.util.spec_from_file_location("mutation_test_driver", _PATH)
mt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mt)


def test_wilson_interval_hand_values():
  lo, hi = mt._wilson(8, 10)  # pylint: disable=protected-access
  assert lo == pytest.approx(0.4902, abs=1e-4)
  assert hi == pytest.approx(0.9433, abs=1e-4)
  assert mt._wilson(10, 10)[1] == pytest.approx(1.0)  # pylint: disable=protected-access


def test_sample_is_seeded_uniform_and_without_replacement():
  a = mt._sample("priors", 20, 3)  # pylint: disable=protected-access
  assert a == mt._sample("priors", 20, 3)  # pylint: disable=protected-access
  assert len(set(a)) == 20
  assert a != mt._sample("priors", 20, 4)  # pylint: disable=protected-access


def test_selection_orders_killers_first_and_names_the_function(tmp_path):
  tests = tmp_path / "tests"
  tests.mkdir()
  (tests / "t.py").write_text(
      "def test_a():\n  f()\n\n\ndef test_sig():\n  inspect(my_func)\n\n\n"
      "def test_other():\n  g()\n")
  cov = {"tests/t.py::test_a": {"ok": True, "t": 1.0,
                                "lines": {"src.py": [5]}},
         "tests/t.py::test_b": {"ok": True, "t": 0.1,
                                "lines": {"src.py": [6]}},
         "tests/t.py::test_sig": {"ok": True, "t": 0.5, "lines": {}},
         "tests/t.py::test_other": {"ok": True, "t": 0.2, "lines": {}}}
  mutant = {"file": "src.py", "cover": (4, 6), "mode": "swap"}
  got, _ = mt._select(mutant, cov, 10.0)  # pylint: disable=protected-access
  assert got == ["tests/t.py::test_b", "tests/t.py::test_a"]  # fastest first
  got, _ = mt._select(mutant, cov, 10.0,  # pylint: disable=protected-access
                      rank={"tests/t.py::test_a": 0})
  assert got == ["tests/t.py::test_a", "tests/t.py::test_b"]  # killer first
  default = dict(mutant, mode="default", def_=None)
  default["def"] = ("my_func", 4)
  got, _ = mt._select(default, cov, 10.0,  # pylint: disable=protected-access
                      scratch=str(tmp_path))
  assert "tests/t.py::test_sig" in got
  assert "tests/t.py::test_other" not in got
