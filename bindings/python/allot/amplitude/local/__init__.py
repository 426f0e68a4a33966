"""``amplitude_experiment.local``: local evaluation."""
