r"""Points the repository URL at another GitHub repository (a fork).

  python scripts/set_repository.py https://github.com/<owner>/<name>

The repository URL is one constant: ``url`` in ``setup.cfg``'s
``[metadata]``. README's Colab badges, the notebooks' badges and install
cells (``pip install "enn_sym @ git+<url>.git"``) and the clone commands in
``docs/`` all use it; ``tests/test_notebooks.py`` checks that they agree
with ``setup.cfg``. This script replaces the current URL (and its Colab
form ``colab.research.google.com/github/<owner>/<name>``) by the new one in
all of them.
"""

from __future__ import annotations

import argparse
import configparser
import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ("setup.cfg", "README.md", "docs/*.md", "notebooks/*.ipynb")
_URL = re.compile(r"^https://github\.com/([\w.-]+/[\w.-]+)$")


def repository_url(root: str = REPO) -> str:
  """``url`` of ``setup.cfg``'s ``[metadata]``."""
  parser = configparser.ConfigParser()
  parser.read(os.path.join(root, "setup.cfg"))
  return parser["metadata"]["url"].strip()


def files(root: str = REPO) -> list[str]:
  """The files that hold the repository URL."""
  out = []
  for pattern in FILES:
    out += sorted(glob.glob(os.path.join(root, pattern)))
  return out


def set_repository(new: str, root: str = REPO) -> list[str]:
  """Replaces the current repository URL by ``new``; the changed files."""
  match, old = _URL.match(new), repository_url(root)
  if not match:
    raise SystemExit(f"error: give a URL https://github.com/<owner>/<name> "
                     f"(no .git, no trailing /); got {new!r}.")
  old_path = _URL.match(old).group(1)
  changed = []
  for path in files(root):
    with open(path) as f:
      text = f.read()
    out = text.replace(old, new).replace(
        f"colab.research.google.com/github/{old_path}/",
        f"colab.research.google.com/github/{match.group(1)}/")
    if out != text:
      with open(path, "w") as f:
        f.write(out)
      changed.append(os.path.relpath(path, root))
  return changed


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("url", help="https://github.com/<owner>/<name>")
  parser.add_argument("--root", default=REPO,
                      help="the checkout to change (default: this one)")
  args = parser.parse_args()
  for path in set_repository(args.url, args.root):
    print(f"updated {path}")


if __name__ == "__main__":
  main()
