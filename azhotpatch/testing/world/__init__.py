"""The emulated world every service acts on: the clock, subscriptions, machines, long-running
operations and patch runs. Nothing here knows about HTTP or about any one service's rules."""
