"""Every setting the code reads from the environment is listed in
.env.example (with a comment) and in the README's settings table, and so is
every variable the Procfile reads: a new setting cannot go undocumented."""

import ast
import re

from tests.processes import PROJECT_ROOT

READERS = {"env_bool", "env_int", "env_str", "env_list", "env_float", "env_choice"}
PACKAGES = ("closerarchive", "webhooks", "conversations", "backfill", "admin_speed")


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for module in (PROJECT_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in READERS
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    names.add(node.args[0].value)
    return names


def variables_read_by_the_procfile() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+):-", (PROJECT_ROOT / "Procfile").read_text()))


def env_example_lines() -> list[str]:
    return (PROJECT_ROOT / ".env.example").read_text().splitlines()


def listed(lines: list[str]) -> dict[str, int]:
    """Setting name -> line number of its (commented-out) assignment."""
    found = {}
    for number, line in enumerate(lines):
        if match := re.match(r"#?([A-Z][A-Z0-9_]*)=", line):
            found[match.group(1)] = number
    return found


def test_the_code_reads_settings_through_env_py():
    # The guard below is only as good as this scan.
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "STATIC_ROOT"} <= settings_read_by_the_code()


def test_env_example_lists_every_setting_the_code_reads():
    missing = settings_read_by_the_code() - set(listed(env_example_lines()))

    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_lists_every_variable_the_procfile_reads():
    missing = variables_read_by_the_procfile() - set(listed(env_example_lines()))

    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_lists_nothing_that_nothing_reads():
    known = settings_read_by_the_code() | variables_read_by_the_procfile()

    unknown = set(listed(env_example_lines())) - known

    assert not unknown, f"nothing reads these: {sorted(unknown)}"


def test_every_setting_in_env_example_is_explained_by_the_comment_above_it():
    lines = env_example_lines()
    assignments = set(listed(lines).values())

    def explained(number: int) -> bool:
        while number - 1 in assignments:  # a group of settings under one comment
            number -= 1
        return number > 0 and lines[number - 1].startswith("# ")

    bare = [name for name, number in listed(lines).items() if not explained(number)]

    assert not bare, f"explain these in a comment line above them: {bare}"


def test_the_readme_documents_every_setting_the_code_reads():
    readme = (PROJECT_ROOT / "README.md").read_text()

    missing = {name for name in settings_read_by_the_code() if f"`{name}`" not in readme}

    assert not missing, f"add to the README's settings table: {sorted(missing)}"
