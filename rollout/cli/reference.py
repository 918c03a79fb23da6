"""The command-line reference, rendered from the commands themselves: the README's synopsis and docs/cli.md.

cog writes both into the Markdown (`cog -r README.md docs/cli.md`) and CI checks they are current
(`cog --check`), so the documentation cannot drift from `--help`.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

# Every command takes --plan; the README says so once instead of on every line.
SHARED_OPTIONS = frozenset({"plan_path"})
HELP_WIDTH = 80
SYNOPSIS_WIDTH = 100


def commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    """Each leaf command with its context, in the order the group registered them (the order of a rollout)."""
    for name, command in group.commands.items():
        sub = click.Context(command, info_name=name, parent=ctx)
        yield sub, command
        if isinstance(command, click.Group):
            yield from commands(command, sub)


def root_context(group: click.Group, prog_name: str) -> click.Context:
    """A context as the real command line makes it (`-h` included), with a fixed width so the text is stable."""
    settings = {**group.context_settings, "terminal_width": HELP_WIDTH, "max_content_width": HELP_WIDTH}
    return click.Context(group, info_name=prog_name, **settings)


def metavar(param: click.Parameter) -> str:
    if isinstance(param.type, click.Choice):
        return "|".join(str(choice) for choice in param.type.choices)
    if param.metavar:
        return param.metavar
    # As --help names them: an argument by its name, an option by its type.
    return (param.name or "").upper() if isinstance(param, click.Argument) else param.type.name.upper()


def usage(ctx: click.Context, command: click.Command) -> str:
    """A synopsis: arguments, then options, what may be left out in brackets; long ones continue indented."""
    parts = []
    for param in command.params:
        if isinstance(param, click.Argument):
            parts.append(metavar(param) if param.required else f"[{metavar(param)}]")
        elif isinstance(param, click.Option) and not param.hidden and param.name not in SHARED_OPTIONS:
            name = max(param.opts, key=len)
            text = name if param.is_flag else f"{name} {metavar(param)}"
            parts.append(text if param.required else f"[{text}]")
    lines = [ctx.command_path]
    for part in parts:
        if len(lines[-1]) + 1 + len(part) > SYNOPSIS_WIDTH:
            lines.append(" " * (len(ctx.command_path) - len(ctx.info_name or "")))
            lines[-1] += part
        else:
            lines[-1] += " " + part
    return "\n".join(lines)


def synopsis(group: click.Group, prog_name: str = "rollout") -> str:
    """The README's command-line block: one line per command."""
    lines = [
        usage(ctx, command)
        for ctx, command in commands(group, root_context(group, prog_name))
        if not isinstance(command, click.Group)
    ]
    return "```\n" + "\n".join(lines) + "\n```\n"


def cli_reference(group: click.Group, prog_name: str = "rollout") -> str:
    """docs/cli.md: every command's `--help`, word for word."""
    root = root_context(group, prog_name)
    sections = [(root, group), *commands(group, root)]
    return "".join(f"## {ctx.command_path}\n\n```\n{command.get_help(ctx)}\n```\n\n" for ctx, command in sections)
