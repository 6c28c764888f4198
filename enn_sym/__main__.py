"""``python -m enn_sym``: the same as the ``enn-sym-train`` console script."""

from enn_sym import _console

if __name__ == "__main__":
  _console.train_main()
