"""The load generator's parts; `harness.simulator` is the public entry point."""
