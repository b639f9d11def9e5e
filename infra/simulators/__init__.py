"""In-process HTTP simulators of third-party APIs, speaking their real wire formats."""
