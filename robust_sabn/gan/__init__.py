"""Class-conditional GAN benchmark: SNGAN / AutoGAN / BigGAN generators with CCBN vs SaBN,
hinge-loss training with EMA, FID/IS through torchmetrics, suite task, report and CLI.

Import the parts you need (``robust_sabn.gan.models``, ``.train``, ``.evaluate``); this package
module stays torch-free so the suite registry can import the task cheaply.
"""
