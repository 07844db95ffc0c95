"""Safe YAML reading with a map from field paths to line numbers.

Only plain data is constructed (``yaml.SafeLoader``): tags that build Python objects
are rejected, and so are duplicate keys, which YAML would otherwise silently overwrite,
keys that are lists or mappings, and more than ``MAX_ALIASES`` aliases (a few anchors
repeated can stand for billions of values). Whatever the bytes, reading ends in a
mapping or one ScenarioError. Files are parsed by libyaml's C parser where PyYAML has it
(ten times faster: the hardware catalog is read on every ``fleetsim validate``); a file it
rejects, or one with anchors (only the Python parser counts aliases), is parsed in Python,
whose messages say more (``expected ',' or ']', but got ':'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fleetsim.errors import Issue, ScenarioError

MAX_ALIASES = 100


class _Strict:
    """Constructor part of a SafeLoader that refuses duplicate and unhashable mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be text or a number, not a {type(key).__name__}",
                    key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(_Strict, yaml.SafeLoader):
    """Pure-Python strict loader: counts aliases, and its error messages are the clearer."""

    aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} aliases",
                                                  self.peek_event().start_mark)
        return super().compose_node(parent, index)


class _FastStrictLoader(_Strict, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Strict loader on libyaml's parser when available (for documents without anchors)."""


class YamlDocument:
    """A parsed YAML mapping plus the node tree used to locate fields by path."""

    def __init__(self, file: str, data: dict[str, Any], root: yaml.Node):
        self.file = file
        self.data = data
        self.root = root

    def line_of(self, path: tuple[str | int, ...]) -> int:
        """1-based line of the deepest node found along ``path`` (unknown segments skipped)."""
        node, line = self.root, self.root.start_mark.line + 1
        for part in path:
            child = _child(node, part)
            if child is None:
                continue  # e.g. a discriminator tag pydantic inserts into the path
            node, line = child, _line(child)
        return line


def _line(found: tuple[yaml.Node, yaml.Node] | yaml.Node) -> int:
    node = found[0] if isinstance(found, tuple) else found
    return node.start_mark.line + 1


def _child(node: yaml.Node | tuple, part: str | int) -> Any:
    if isinstance(node, tuple):  # (key node, value node) of a mapping entry
        node = node[1]
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == part:
                return (key_node, value_node)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def read_yaml(path: str | Path, what: str = "scenario") -> YamlDocument:
    """Read a YAML file whose document must be a mapping; any problem is a ScenarioError."""
    file = str(path)
    p = Path(path)

    def fail(message: str, line: int | None = None) -> ScenarioError:
        return ScenarioError([Issue(file, line, "", message)])

    if not p.exists():
        raise fail(f"no such file (expected a {what} YAML file)")
    if p.is_dir():
        raise fail(f"is a directory (expected a {what} YAML file)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise fail(f"cannot read file: {err}") from None
    try:
        root, data = _parse(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise fail(f"invalid YAML: {problem}", line) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        raise fail(f"invalid YAML: character #x{err.character:04x} is not allowed", line) from None
    except yaml.YAMLError as err:
        raise fail(f"invalid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise fail("invalid YAML: nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise fail(f"invalid YAML: {' '.join(str(err).split())}") from None
    if root is None or data is None:
        raise fail(f"file is empty (expected a {what} mapping with keys)")
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise fail(f"top level is a {kind}, not a mapping (expected a {what} mapping)", _line(root))
    return YamlDocument(file, data, root)


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree and the data of ``text``'s single document, on libyaml unless it has
    anchors or libyaml rejects it (then in Python, which counts aliases and says more)."""
    if "&" not in text:
        try:
            return _load(text, _FastStrictLoader)
        except (yaml.YAMLError, RecursionError, ValueError):
            pass
    return _load(text, _StrictLoader)


def _load(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
