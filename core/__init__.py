"""swarmdeck core: the engine. Never imports textual; never prints to the terminal."""

__version__ = "0.1.0"
