"""Arbitrary style transfer with AdaIN or SaAdaIN (Huang and Belongie 2017; SaBN section 5)."""
