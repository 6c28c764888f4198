"""Shared test configuration.

Tests run on the CPU. Multi-device tests start a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (see
``tests/test_multidevice.py``); this process keeps one device.
"""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent XLA compilation cache for the test session, shared by the
# xdist workers and (through the environment) the subprocess tests: many
# tests compile identical programs (tiny trainers built afresh), and XLA
# compilation dominates their time. Entries are keyed by the program, the
# compile options and the jax/XLA version, so a hit returns the executable a
# compilation would have produced. Set JAX_COMPILATION_CACHE_DIR to move it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), f"enn_sym_test_xla_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import hypothesis  # noqa: E402

hypothesis.settings.register_profile(
    "default", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.register_profile(
    "thorough", deadline=None, max_examples=400,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
  """Runs the modules with the most slow-marked tests first.

  Under ``pytest -n auto`` a heavy module scheduled last keeps one worker
  busy while the others idle; starting the heavy modules first lets the
  light ones fill the gaps. Each module's tests stay together and in file
  order, so module-scoped fixtures are built once per worker.
  """
  del config
  modules: dict = {}
  for item in items:
    modules.setdefault(item.module.__name__ if item.module else "", []
                       ).append(item)
  groups = sorted(modules.values(), key=lambda group: -sum(
      1 for it in group if it.get_closest_marker("slow") is not None))
  items[:] = [item for group in groups for item in group]
