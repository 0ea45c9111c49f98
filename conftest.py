# The root conftest only registers the plugin; everything else lives in the infergate package.
pytest_plugins = ["infergate.pytest_plugin.plugin"]
