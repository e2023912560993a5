"""robust-sabn: adversarial-robustness benchmarks around Sandwich Batch Normalization.

Importing the package registers the ``autoattack`` adapter as an import finder (nothing is
imported by that; see :mod:`robust_sabn.compat`), so that ``import robustbench`` works after
``import robust_sabn`` where only PyPI's ``pyautoattack`` is installed. A real ``autoattack``
package is never shadowed.
"""

from robust_sabn.compat.autoattack_finder import register_autoattack_finder

__version__ = "0.1.0"

register_autoattack_finder()
