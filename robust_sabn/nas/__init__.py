"""Weight-sharing NAS on NAS-Bench-201 with BN, CCBN or SaBN in the supernet.

The search space (:mod:`.space`), candidate ops with the SaBN family's norms (:mod:`.ops`), the
supernet with sampled-path SaBN and standalone cell networks (:mod:`.network`), first-order
DARTS and GDAS (:mod:`.search`), and three ways to score a cell (:mod:`.tables`,
:mod:`.retrain`).
"""
