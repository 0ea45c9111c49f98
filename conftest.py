# The root conftest only registers the plugin; everything else lives in the infergate package.
import sys

_PLUGIN = "infergate.pytest_plugin.plugin"


def __getattr__(name: str) -> list[str]:
    # `pytest_plugins`, read by pytest when it imports this file: named only while the plugin is not
    # loaded (when the installed wheel's pytest11 entry point loaded it, pytest needs no second
    # name). A run outside this repository that takes the plugin from this checkout (an editable
    # install, PYTHONPATH) meets this file again when it collects the packaged suite
    # (infergate/pytest_plugin/suite/), after start-up, and pytest refuses a conftest that names
    # plugins there ("Defining 'pytest_plugins' in a non-top-level conftest"); by then the plugin is loaded.
    if name == "pytest_plugins" and _PLUGIN not in sys.modules:
        return [_PLUGIN]
    raise AttributeError(name)
