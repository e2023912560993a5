"""The adversarial benchmark's suite task, record layout and report sections.

Its engine lives beside it in ``robust_sabn.attacks``, ``robust_sabn.train``,
``robust_sabn.evaluate`` and ``robust_sabn.zoo``; this package is what the platform (suites,
records, reports) sees of it. Importing it is cheap: no torch.
"""
