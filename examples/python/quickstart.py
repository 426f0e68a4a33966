"""allot Python quick start: evaluate the bundled example flags locally, no network.

    pip install allot
    python examples/python/quickstart.py examples/flags/flags.json
"""

import sys

from allot.amplitude import Experiment, LocalEvaluationConfig, User

flags_path = sys.argv[1] if len(sys.argv) > 1 else "examples/flags/flags.json"
experiment = Experiment.initialize_local("demo", LocalEvaluationConfig(flags_path=flags_path))
experiment.start()
user = User(user_id="user-3003", device_id="d-3003", country="Canada", user_properties={"plan": "team"})
for key, variant in sorted(experiment.evaluate_v2(user).items()):
    print(f"{key}: {variant.value}")
experiment.stop()
