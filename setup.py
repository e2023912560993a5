"""Package layout (metadata is in pyproject.toml).

The repository's ``suites/`` (the source of the suite definitions) ships inside the package as
``robust_sabn.bundled_suites``, so an installed robust-sabn finds its suites from any folder.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["robust_sabn*"]), "robust_sabn.bundled_suites"],
    package_dir={"robust_sabn.bundled_suites": "suites"},
    package_data={"robust_sabn.bundled_suites": ["*.toml", "*.md"]},
)
