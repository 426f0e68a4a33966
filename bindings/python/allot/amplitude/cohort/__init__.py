"""``amplitude_experiment.cohort``."""
