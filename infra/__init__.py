"""Local infrastructure (simulators of third-party services) for tests and local runs."""
