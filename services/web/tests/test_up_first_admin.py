"""``sprakvan up`` makes the web front's first admin once, and says how to log in on that run only."""

from __future__ import annotations

from pathlib import Path

from sprakvan_cli.main import WEB_ADMIN_PASSWORD_FILE, Up


def test_the_first_admins_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = Up(home=tmp_path, specs=[])
    env = first._first_admin_env()
    password = env["WEB_BOOTSTRAP_ADMIN_PASSWORD"]
    assert env["WEB_BOOTSTRAP_ADMIN_ORG"] == "demo" and env["WEB_BOOTSTRAP_ADMIN_USER"] == "admin"
    assert len(password) >= 12 and first._new_admin_password == password
    assert (tmp_path / WEB_ADMIN_PASSWORD_FILE).stat().st_mode & 0o077 == 0

    again = Up(home=tmp_path, specs=[])
    assert again._first_admin_env()["WEB_BOOTSTRAP_ADMIN_PASSWORD"] == password
    assert again._new_admin_password == ""  # not printed a second time
