"""Shared test configuration.

Tests run on the CPU. Multi-device tests start a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (see
``tests/test_multidevice.py``); this process keeps one device.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import hypothesis  # noqa: E402

hypothesis.settings.register_profile(
    "default", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.register_profile(
    "thorough", deadline=None, max_examples=400,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
