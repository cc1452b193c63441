"""The NATS models' rules, in one place: whichever door a change comes through (API, admin, domain action,
`full_clean()` in a script), the same check answers with the same message on the same field."""

import pytest
from django.core.exceptions import ValidationError

from credentials.models import AccountExport, AccountImport, NatsRole, NatsUser
from credentials.services import nats as svc
from tests.credentials.nats_support import account_of, link_user, make_nats_user, make_role, membership_of

pytestmark = pytest.mark.django_db


def errors(obj) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        obj.full_clean(exclude=["seed"])
    return exc.value.message_dict


def test_role_names_are_unique_per_organization(world):
    make_role(world.org, name="sensors")
    assert errors(NatsRole(organization=world.org, name="sensors"))["name"] == [
        "A NATS role with this name already exists in this organization."
    ]
    NatsRole(organization=world.other_org, name="sensors").full_clean()


def test_renaming_a_role_onto_another_is_refused(world):
    make_role(world.org, name="sensors")
    role = make_role(world.org, name="pumps")
    with pytest.raises(ValidationError) as exc:
        svc.update_role(role, name="sensors")
    assert list(exc.value.message_dict) == ["name"]


def test_user_names_are_unique_per_account(world):
    make_nats_user(world.org, name="pump-1")
    user = NatsUser(account=account_of(world.org), organization=world.org, name="pump-1", public_key="U" * 56)
    assert errors(user)["name"] == ["A NATS user with this name already exists in this account."]


def test_a_membership_links_one_user(world):
    membership = membership_of(world, "member")
    link_user(membership)
    user = NatsUser(
        account=account_of(world.org),
        organization=world.org,
        name="second",
        owner_kind=NatsUser.OwnerKind.MEMBERSHIP,
        membership=membership,
        public_key="U" * 56,
    )
    assert errors(user)["membership"] == ["This membership is already linked to another NATS user."]


def test_export_subjects_are_unique_per_account(world):
    account = account_of(world.org)
    svc.save_account_link(AccountExport(organization=world.org, account=account, name="a", subject="public.>"))
    export = AccountExport(organization=world.org, account=account, name="b", subject="public.>")
    assert errors(export)["subject"] == ["This account already exports this subject."]


def test_import_local_subjects_are_validated_by_the_model(world):
    link = AccountImport(
        organization=world.org,
        account=account_of(world.org),
        exporter=svc.system_account(),
        name="events",
        subject="$SYS.ACCOUNT.*.>",
        local_subject="a b",
    )
    assert "whitespace" in errors(link)["local_subject"][0]


def test_an_import_from_another_tenant_is_answered_like_a_missing_exporter(world):
    link = AccountImport(
        organization=world.org,
        account=account_of(world.org),
        exporter=account_of(world.other_org),
        name="theirs",
        subject="data.>",
    )
    assert errors(link)["exporter"] == [AccountImport.NO_SUCH_EXPORTER]
