"""GameDay: chaos-engineering GameDays as reproducible workflows.

The package holds all harness code shared by flows/, notebooks/ and the CLI. It never
imports the system under test (stack/): the two meet only over HTTP and process or
container control.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
