"""Readers for recorded sessions, one module per format.

Each module registers itself with :func:`arkit.io.sources.register_reader` when imported;
:func:`arkit.io.sources.open_source` imports every module of this package the first time it
needs to recognise a path, so a new format is added by dropping a module here::

    from arkit.io.sources import register_reader

    def is_my_format(path) -> bool: ...
    class MyFormatSource(FrameSource): ...

    register_reader(is_my_format, MyFormatSource, name="my-format")
"""
