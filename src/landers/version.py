"""The package's version, in a module of its own: what records it (config.json, best.json, an
ONNX file's metadata) imports it from here, not from the package's face `landers/__init__.py`."""

__version__ = "0.1.0"
