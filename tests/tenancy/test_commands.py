import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def test_ensure_superuser_creates_one_and_prints_the_generated_password_once(capsys):
    call_command("ensure_superuser", username="ops", email="ops@example.com")
    first = capsys.readouterr().out
    assert "Generated password (shown once)" in first
    assert get_user_model().objects.get(username="ops").is_superuser
    call_command("ensure_superuser", username="ops")
    assert "already exists" in capsys.readouterr().out


def test_ensure_superuser_refuses_an_existing_ordinary_user():
    make_user("admin", superuser=False)
    with pytest.raises(CommandError, match="exists but is not a superuser"):
        call_command("ensure_superuser", username="admin")
