"""Load YAML keeping the line of every key, so scene-file errors can name file, line and key."""

from __future__ import annotations

from pathlib import Path

import yaml

from arkit.core.errors import SceneFileError


def load_yaml_with_lines(path) -> tuple:
    """Parse a YAML file.

    Returns
    -------
    data : object
        The document as plain Python objects.
    lines : dict
        Dotted key path (``"content[1].model"``) -> 1-based line number.

    Raises
    ------
    SceneFileError
        The file is missing, unreadable or not valid YAML (with the parser's line).
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFileError(str(path), "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SceneFileError(str(path), f"cannot read the file ({e})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise SceneFileError(str(path), f"invalid YAML: {problem}", line=line) from None
    finally:
        loader.dispose()
    lines: dict = {"": node.start_mark.line + 1}
    _collect(node, "", lines)
    return data, lines


def _collect(node, path: str, lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{path}.{k.value}" if path else str(k.value)
            lines[key] = k.start_mark.line + 1
            _collect(v, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{path}[{i}]"
            lines[key] = v.start_mark.line + 1
            _collect(v, key, lines)
