"""Benchmarks of Meta-LegNet against library baselines (``metalegnet bench accuracy``).

* :mod:`~metalegnet.bench.suites`: the ``quick`` and ``full`` suites (rows, models, budgets);
* :mod:`~metalegnet.bench.hparams`: per-model learning rates and sizes (``configs/``);
* :mod:`~metalegnet.bench.datasets`: embedded and generated data of the rows;
* :mod:`~metalegnet.bench.jobs`: one training run (test MAE, predictions, cost);
* :mod:`~metalegnet.bench.accuracy`: every model on every row over seeds, in a process pool;
* :mod:`~metalegnet.bench.results`, :mod:`~metalegnet.bench.report`,
  :mod:`~metalegnet.bench.plots`: ``results.json``, ``results.md``, parity plots;
* :mod:`~metalegnet.bench.tune`: learning rates chosen on validation (``--tune``).
"""
