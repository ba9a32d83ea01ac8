"""Meta-learning over catalyst-adsorbate tasks (paper §2.5, eqs. 24-25).

* :mod:`metalegnet.meta.tasks`: tasks from ``info`` keys, support/query draws, source/target
  split with a leak check;
* :mod:`metalegnet.meta.maml`: MAML / FOMAML / Meta-SGD with ``torch.func``;
* :mod:`metalegnet.meta.adapt`: few-shot adaptation, step count chosen by cross-validation
  on the support set with a zero-shot fallback (:mod:`~metalegnet.meta.adapt_io`: files);
* :mod:`metalegnet.meta.train`: the meta-training loop (checkpoints, resume);
* :mod:`metalegnet.meta.commands`: ``metalegnet meta-train`` and ``metalegnet adapt``.
"""
