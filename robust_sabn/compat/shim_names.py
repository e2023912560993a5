"""The names the ``autoattack`` shim goes by (torch-free; the finder and the shim share them)."""

SHIM_MODULE = "autoattack"
"""The import name the original AutoAttack code uses and RobustBench imports."""
SHIM_MARK = "__robust_sabn_shim__"
"""Attribute set to True on the shim's ``autoattack`` module."""
