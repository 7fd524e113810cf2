"""Our Canary, judged before it ships: a good release is promoted clean, and a release that
answers 5% errors is rolled back. (`progressive lint canary.yaml --rps 150 --time-scale 0.1`
puts the odds that such a release is promoted anyway at 0.03%.)"""

from progressive.testing import (
    assert_no_failed_requests,
    assert_promoted,
    assert_rolled_back,
    assert_traffic_follows_weights,
    release,
)


def test_a_good_release_is_promoted_clean(rollout):
    obs = rollout("canary.yaml", to="v2")
    assert_promoted(obs)
    assert_traffic_follows_weights(obs)
    assert_no_failed_requests(obs)


def test_a_release_with_5_percent_errors_is_rolled_back(rollout):
    obs = rollout("canary.yaml", to=release("v3", error_rate=0.05))
    assert_rolled_back(obs)
