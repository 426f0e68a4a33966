"""``amplitude_experiment.remote``: remote evaluation."""
