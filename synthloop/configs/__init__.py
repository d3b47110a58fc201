"""Built-in configs (YAML), read with importlib.resources."""
