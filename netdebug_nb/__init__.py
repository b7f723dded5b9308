"""netdebug_nb: parameterized network-troubleshooting notebooks and the library behind them.

Importing the package is cheap and has no side effects: every heavy dependency (pandas, scapy,
kubernetes, papermill) is imported by the module that needs it, when it needs it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
