"""Signal receivers, one module per half. They are the safety net for changes made outside the domain actions
(`credentials.services`): whichever door a change comes through, the trust chain follows it."""

from credentials.signals import nats, nebula  # noqa: F401 - connects the receivers
