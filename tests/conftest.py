import os

from hypothesis import HealthCheck, settings

# Numba compiles on first call, so no deadline. CI sets CI=true, which selects Hypothesis's
# built-in "ci" profile; locally use ours.
settings.register_profile(
    "local",
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=30,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if not os.environ.get("CI"):
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "local"))
else:
    settings.load_profile("ci")
