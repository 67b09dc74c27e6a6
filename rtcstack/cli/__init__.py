"""The ``rtcstack`` command: one subcommand per module in this package (see :mod:`.main`)."""
