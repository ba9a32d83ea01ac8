"""Supervised training and evaluation: S2E, S2F, S2EF, IS2RE (``metalegnet train``).

Typical use::

    from metalegnet.train import TrainConfig, train

    metrics = train(TrainConfig(data="oc20-mini", task="s2ef", epochs=2), "runs/x")
    print(metrics["test"]["energy_mae"], metrics["test"]["force_mae"])  # eV, eV/Å
"""

from metalegnet.train.config import TrainConfig


def __getattr__(name):  # lazy: keeps `metalegnet --help` light
    if name in ("train", "Trainer"):
        from metalegnet.train import trainer

        return getattr(trainer, name)
    if name == "evaluate_checkpoint":
        from metalegnet.train.evaluate import evaluate_checkpoint

        return evaluate_checkpoint
    if name == "predict_file":
        from metalegnet.train.predict import predict_file

        return predict_file
    raise AttributeError(name)


__all__ = ["TrainConfig", "Trainer", "evaluate_checkpoint", "predict_file", "train"]
