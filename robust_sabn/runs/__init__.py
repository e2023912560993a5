"""The run lifecycle every trainer shares, below the tasks and above ``artifacts``/``parallel``.

* :mod:`robust_sabn.runs.folder`: the run folder (lock, stale temporary files, ``config.json``,
  resume identity, ``metrics.jsonl``, checkpoints, the final record ``train_record.json``);
* :mod:`robust_sabn.runs.distributed`: device, ranks, the global-batch check, barriers;
* :mod:`robust_sabn.runs.divergence`: the divergence guard and the ``diverged`` record fields;
* :mod:`robust_sabn.runs.progress`: the progress displays;
* :mod:`robust_sabn.runs.names`: the record's file name (torch-free, for suite tasks).
"""
