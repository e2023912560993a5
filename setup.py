"""Package layout (metadata is in pyproject.toml).

The repository's ``suites/`` (the source of the suite definitions) ships inside the package as
``robust_sabn.bundled_suites``, so an installed robust-sabn finds its suites from any folder.

``robust_sabn_robustbench.pth`` is installed beside the package in site-packages, where Python
runs it at start-up (as setuptools does with its ``distutils-precedence.pth``): it registers the
import hooks of :mod:`robust_sabn.compat.site_hook`, so that a bare ``import robustbench`` works
and RobustBench's ``load_model`` sees robust-sabn exports, with no ``import robust_sabn`` first.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

STARTUP_HOOK = "robust_sabn_robustbench.pth"


class BuildPyWithStartupHook(build_py):
    """build_py that also puts the start-up ``.pth`` at the top of the wheel (site-packages)."""

    def run(self) -> None:
        super().run()
        # An editable wheel holds what is installed under install_lib, not build_lib.
        target = (self.get_finalized_command("install").install_lib if self.editable_mode
                  else self.build_lib)
        self.copy_file(STARTUP_HOOK, str(Path(target, STARTUP_HOOK)), preserve_mode=0)


setup(
    packages=[*find_packages(include=["robust_sabn*"]), "robust_sabn.bundled_suites"],
    package_dir={"robust_sabn.bundled_suites": "suites"},
    package_data={"robust_sabn.bundled_suites": ["*.toml", "*.md"]},
    cmdclass={"build_py": BuildPyWithStartupHook},
)
