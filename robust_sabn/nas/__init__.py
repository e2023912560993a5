"""Weight-sharing NAS on NAS-Bench-201 with BN, CCBN or SaBN in the supernet.

The search space and genotype strings (:mod:`.space`), candidate ops with the SaBN family's
norms (:mod:`.ops`), the supernet with sampled-path SaBN and standalone cell networks
(:mod:`.network`), first-order DARTS and GDAS with exact resume (:mod:`.search`), three labelled
ways to score a cell (:mod:`.tables`, :mod:`.retrain`, :mod:`.scoring`), records
(:mod:`.records`), the suite task (:mod:`.plan`, :mod:`.suite_task`), the report
(:mod:`.report`) and the ``robust-sabn nas`` commands (:mod:`.cli`).
"""
