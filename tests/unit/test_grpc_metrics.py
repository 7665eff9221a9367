"""How the server interceptor names a call that ended at or past its deadline."""

from qrpass.core.grpc_metrics import DEADLINE_SLACK_SECONDS, deadline_passed


def test_a_call_without_a_deadline_never_expires() -> None:
    assert not deadline_passed(None)
    assert not deadline_passed(None, DEADLINE_SLACK_SECONDS)


def test_a_call_that_finishes_counts_as_late_only_once_no_time_is_left() -> None:
    assert deadline_passed(0.0)
    assert not deadline_passed(0.001)


def test_a_cancel_within_the_slack_of_the_deadline_is_the_deadline_firing() -> None:
    assert deadline_passed(DEADLINE_SLACK_SECONDS / 2, DEADLINE_SLACK_SECONDS)
    assert not deadline_passed(DEADLINE_SLACK_SECONDS * 2, DEADLINE_SLACK_SECONDS)
