"""validate_config: sizes, class counts and prior names (issue 14 item 5)."""

import pytest

from enn_sym import train
from enn_sym.train import _config


def _with(field, value):
  config = train.default_config()
  config.unlock()
  *parents, leaf = field.split(".")
  node = config
  for part in parents:
    node = node[part]
  # Bypass ConfigDict's type safety, as a config file built by hand could.
  node._fields[leaf] = value  # pylint: disable=protected-access
  return config


def test_default_config_is_valid():
  train.validate_config(train.default_config())


@pytest.mark.parametrize("field,value", [
    ("model.epinet.index_dim", 2.5),
    ("model.epinet.index_dim", 0),
    ("model.ensemble.num_ensemble", -1),
    ("model.epinet.index_dim", True),
])
def test_non_integer_or_non_positive_scalar_sizes(field, value):
  with pytest.raises(train.ConfigError,
                     match=rf"config\.{field}: must be an integer >= 1; got "
                     rf"{value!r}"):
    train.validate_config(_with(field, value))


@pytest.mark.parametrize("field,value", [
    ("model.mlp_hidden_sizes", (50, 0)),
    ("model.mlp_hidden_sizes", (-3,)),
    ("model.epinet.hidden_sizes", (2.5,)),
    ("model.lenet_channels", (6, 0)),
    ("model.lenet_dense_sizes", (True,)),
    ("model.p4_channels", (8, -16)),
    ("model.vn_hidden_sizes", (0,)),
])
def test_bad_layer_sizes(field, value):
  with pytest.raises(train.ConfigError,
                     match=rf"config\.{field}: must be a tuple of integers "
                     rf">= 1 \(layer sizes\)"):
    train.validate_config(_with(field, value))


def test_empty_hidden_sizes_are_allowed_but_p4cnn_needs_channels():
  train.validate_config(_with("model.mlp_hidden_sizes", ()))
  config = _with("model.p4_channels", ())
  train.validate_config(config)  # Not used by the mlp base.
  config.model.base = "p4cnn"
  with pytest.raises(train.ConfigError, match="p4cnn base needs at least"):
    train.validate_config(config)


@pytest.mark.parametrize("field", ["model.epinet.prior",
                                   "model.ensemble.prior"])
def test_unknown_prior_lists_the_registered_ones(field):
  with pytest.raises(train.ConfigError) as info:
    train.validate_config(_with(field, "mlp_ensembel"))
  message = str(info.value)
  assert message.startswith(f"config.{field}: must be one of the registered")
  assert "got 'mlp_ensembel'" in message
  from enn_sym import networks  # pylint: disable=g-import-not-at-top
  assert str(list(networks.list_priors())) in message
  assert "mlp_ensemble" in message and "register_prior" in message
  train.validate_config(_with(field, ""))
  train.validate_config(_with(field, "random_features"))


@pytest.mark.parametrize("value", [1, 0, -2, 2.0, True])
def test_num_classes_below_two_is_rejected(monkeypatch, value):
  # No built-in key holds a class count today (it comes from data.name);
  # any `num_classes` key a schema gains is checked.
  original = _config.default_config

  def with_num_classes():
    config = original()
    config.data.num_classes = 10
    return config

  monkeypatch.setattr(_config, "default_config", with_num_classes)
  train.validate_config(with_num_classes())
  with pytest.raises(train.ConfigError,
                     match=r"config\.data\.num_classes: must be an integer "
                     r">= 2"):
    train.validate_config(_with_schema(with_num_classes(), value))


def _with_schema(config, value):
  config.data._fields["num_classes"] = value  # pylint: disable=protected-access
  return config
