"""NATS chain of trust: operator → accounts (one per organization, plus SYS) → users.

Secrets (seeds) are `EncryptedSecretField`s. Every account change bumps `revision` and stores the re-signed
JWT in the same transaction; the push pipeline (credentials.tasks) brings `pushed_revision` up to it.

The rules of these models (uniqueness with a message naming the field, relations kept inside one
organization, cross-field rules) live in their `clean()` and field definitions, so the API, the admin and the
domain actions all get them from `full_clean()`; the database constraints stay as the last guard.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from credentials.codecs import natsjwt
from credentials.secrets import EncryptedSecretField
from tenancy.models import Membership, Organization
from tenancy.scoping import OrgScopedManager, OrgScopedQuerySet

UNLIMITED = -1


def validate_subject_list(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of NATS subjects.")
    errors = []
    for subject in value:
        if not isinstance(subject, str):
            errors.append(f"{subject!r} is not a string.")
            continue
        try:
            natsjwt.validate_subject(subject)
        except natsjwt.NatsCodecError as exc:
            errors.append(f"{subject!r}: {exc}")
    if errors:
        raise ValidationError(errors)


def validate_subject(value: str) -> None:
    try:
        natsjwt.validate_subject(value)
    except natsjwt.NatsCodecError as exc:
        raise ValidationError(str(exc)) from exc


#: Keys of `AccountSigningKey.scope_template` (see `scope_permission_limits`).
SCOPE_TEMPLATE_LISTS = ("pub_allow", "pub_deny", "sub_allow", "sub_deny")
SCOPE_TEMPLATE_KEYS = (*SCOPE_TEMPLATE_LISTS, "resp", "subs", "data", "payload")


def scope_permission_limits(template: dict) -> natsjwt.UserPermissionLimits:
    """The permissions and limits of a scope template, checked.

    The template is `{"pub_allow": [...], "pub_deny": [...], "sub_allow": [...], "sub_deny": [...],
    "resp": null | {"max": 1, "ttl": 0}, "subs": -1, "data": -1, "payload": -1}` (every key optional; `ttl` in
    seconds); subjects may hold nats-server template functions (`{{tag(thing)}}`, `{{name()}}`), expanded for each
    user when it connects.
    """
    if not isinstance(template, dict):
        raise ValidationError("A scope template is a JSON object.")
    unknown = sorted(set(template) - set(SCOPE_TEMPLATE_KEYS))
    if unknown:
        raise ValidationError(f"Unknown scope template key(s): {', '.join(unknown)}.")
    for name in SCOPE_TEMPLATE_LISTS:
        validate_subject_list(template.get(name, []))
    resp = template.get("resp")
    if resp is not None:
        if not isinstance(resp, dict) or set(resp) - {"max", "ttl"}:
            raise ValidationError('`resp` is null or {"max": <replies>, "ttl": <seconds>}.')
        resp = natsjwt.ResponsePermission(max_msgs=resp.get("max", 1), ttl_seconds=resp.get("ttl", 0))
    limits = {name: template.get(name, UNLIMITED) for name in ("subs", "data", "payload")}
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise ValidationError(f"`{name}`: use -1 for unlimited or a value ≥ 0.")
    permission_limits = natsjwt.UserPermissionLimits(
        **{name: template.get(name, []) for name in SCOPE_TEMPLATE_LISTS}, resp=resp, **limits
    )
    try:
        permission_limits.to_json()
    except natsjwt.NatsCodecError as exc:
        raise ValidationError(str(exc)) from exc
    return permission_limits


def validate_scope_template(value) -> None:
    if value is not None:
        scope_permission_limits(value)


#: A user tag: `name:value`, usable as a subject token by `{{tag(name)}}` (nats-server matches it as written).
TAG_RE = re.compile(r"[a-z][a-z0-9_-]*:[^\s.*>]+")
TAG_MAX_LENGTH = 255


def validate_tags(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of tags (`name:value`).")
    errors = []
    for tag in value:
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag) or len(tag) > TAG_MAX_LENGTH:
            errors.append(
                f"{tag!r} is not a tag: `name:value`, a lower-case name, and a value without spaces, '.', '*' or '>'."
            )
    if len({t.split(":", 1)[0] for t in value if isinstance(t, str)}) != len(value) and not errors:
        errors.append("Give each tag name once.")
    if errors:
        raise ValidationError(errors)


def subject_list_field(help_text: str) -> models.JSONField:
    return models.JSONField(default=list, blank=True, validators=[validate_subject_list], help_text=help_text)


class Operator(models.Model):
    """The single NATS operator whose JWT every nats-server of the platform trusts.

    Its identity seed is kept: the operator JWT is self-signed (nats-server refuses one whose issuer is not
    its subject), and so is an account deletion claim (`$SYS.REQ.CLAIMS.DELETE` wants `iss == sub`). Accounts
    are signed with the operator's signing keys.
    """

    name = models.CharField(max_length=100, default="stone-age")
    public_key = models.CharField(max_length=56, unique=True)
    seed = EncryptedSecretField()
    jwt = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="operator_singleton")]

    def __str__(self) -> str:
        return f"Operator {self.name}"


class SigningKeyBase(models.Model):
    public_key = models.CharField(max_length=56, unique=True)
    seed = EncryptedSecretField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.public_key


class OperatorSigningKey(SigningKeyBase):
    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="signing_keys")

    class Meta(SigningKeyBase.Meta):
        pass


class AccountQuerySet(OrgScopedQuerySet):
    def behind(self):
        """Accounts whose newest revision is not yet on the NATS servers."""
        return self.filter(pushed_revision__lt=F("revision"))


class Account(models.Model):
    """A NATS account: one per organization, plus the system account (`is_system`).

    Only the identity public key is kept, never its seed: the account JWT is signed by an operator signing
    key and users by the account's signing keys, so nothing signs with the identity key (the system account
    included), and a seed nothing needs is only something to leak.

    Two separate facts switch a tenant off NATS, each written by its own door and never by the other: the
    organization is inactive (`Organization.active`, owned by tenancy) or a platform operator suspended the
    account (`suspended`). `active` is derived from both whenever the account is signed
    (`credentials.services.nats.sign_account`), never set directly: it is what the push pipeline acts on (the JWT
    is pushed, or the account is deleted from NATS), and comparing it with both facts tells when an
    organization change has to reach NATS. So reactivating the organization leaves a suspension in force, and
    lifting the suspension leaves an inactive organization off.
    """

    organization = models.OneToOneField(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="nats_account"
    )
    is_system = models.BooleanField(default=False, editable=False)
    name = models.CharField(max_length=100)
    public_key = models.CharField(max_length=56, unique=True, editable=False)
    suspended = models.BooleanField(
        default=False,
        help_text="Set by a platform operator: the account is withdrawn from NATS whatever its organization's state.",
    )
    active = models.BooleanField(
        default=True,
        editable=False,
        help_text="On NATS: the organization is active and the account is not suspended (derived from both).",
    )

    max_connections = models.BigIntegerField(default=UNLIMITED, help_text="-1 = unlimited, 0 = none.")
    max_leaf_nodes = models.BigIntegerField(default=UNLIMITED)
    max_subscriptions = models.BigIntegerField(default=UNLIMITED)
    max_data = models.BigIntegerField(default=UNLIMITED, help_text="Bytes in flight; -1 = unlimited.")
    max_payload = models.BigIntegerField(default=UNLIMITED, help_text="Bytes per message; -1 = unlimited.")
    max_jetstream_disk = models.BigIntegerField(default=0, help_text="Bytes; -1 = unlimited, 0 = no JetStream.")
    max_jetstream_memory = models.BigIntegerField(default=0, help_text="Bytes; -1 = unlimited, 0 = none.")
    max_streams = models.BigIntegerField(default=UNLIMITED)
    max_consumers = models.BigIntegerField(default=UNLIMITED)

    revocations = models.JSONField(default=dict, blank=True, editable=False)
    #: Per revoked key, when every JWT its revocation covers has expired (unix seconds); the entry is pruned
    #: after that. A key without one is kept forever (a JWT it covers never expires, or nothing is known).
    revocation_expiries = models.JSONField(default=dict, blank=True, editable=False)
    jwt = models.TextField(blank=True, editable=False)
    jwt_iat = models.BigIntegerField(default=0, editable=False)
    revision = models.PositiveBigIntegerField(default=0, editable=False)
    pushed_revision = models.PositiveBigIntegerField(default=0, editable=False)
    pushed_at = models.DateTimeField(null=True, blank=True, editable=False)
    push_error = models.TextField(blank=True, editable=False)
    #: Until then an update push of this account may still reach a server (`credentials.push`); an account deleted
    #: before then is deleted from NATS again after it (`AccountTombstone.not_before`).
    push_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager.from_queryset(AccountQuerySet)()

    LIMIT_FIELDS = (
        "max_connections",
        "max_leaf_nodes",
        "max_subscriptions",
        "max_data",
        "max_payload",
        "max_jetstream_disk",
        "max_jetstream_memory",
        "max_streams",
        "max_consumers",
    )
    #: What platform operators change (`credentials.services.nats.update_account`).
    EDITABLE_FIELDS = ("suspended", *LIMIT_FIELDS)

    class Meta:
        ordering = ["name"]
        verbose_name = "NATS account"
        constraints = [
            models.UniqueConstraint(fields=["is_system"], condition=Q(is_system=True), name="one_system_account"),
            models.CheckConstraint(
                condition=Q(is_system=True, organization__isnull=True) | Q(is_system=False, organization__isnull=False),
                name="account_owner_is_org_or_system",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {f: "Use -1 for unlimited or a value ≥ 0." for f in self.LIMIT_FIELDS if getattr(self, f) < -1}
        if self.is_system and self.suspended:
            errors["suspended"] = "The system account cannot be suspended: the platform would lose NATS."
        if errors:
            raise ValidationError(errors)

    @property
    def push_pending(self) -> bool:
        return self.pushed_revision < self.revision


class AccountSigningKey(SigningKeyBase):
    """A key that signs the account's users. A *scoped* key (`scope_template` set) is written into the account JWT
    with its template: the users it signs carry no permissions of their own and get the template's, expanded from
    their name and tags at connect (wire-formats §1.10). A thing type is such a key. Changing a template is one
    account push: nats-server drops the key's connected users and they reconnect under the new template, with the
    same JWTs. Unscoped keys sign every other user (people, services, leaf nodes): the newest one signs."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="signing_keys")
    scope_role = models.CharField(max_length=100, blank=True, help_text="Name of the scope (its `role`).")
    scope_template = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_scope_template],
        help_text="Permissions of the users this key signs; empty = an unscoped key (its users carry their own).",
    )
    scope_description = models.CharField(max_length=255, blank=True)

    class Meta(SigningKeyBase.Meta):
        pass

    @property
    def is_scoped(self) -> bool:
        return self.scope_template is not None

    def scope_claim(self) -> natsjwt.ScopedSigningKey:
        return natsjwt.ScopedSigningKey(
            key=self.public_key,
            role=self.scope_role,
            template=scope_permission_limits(self.scope_template),
            description=self.scope_description,
        )


class AccountTombstone(models.Model):
    """An account deleted from the database that must still be deleted from NATS (`$SYS.REQ.CLAIMS.DELETE`).

    Deletion wins: no update of this key is pushed once the tombstone exists, and the tombstone is done only
    once a deletion was sent after every update that may still have been on its way (`not_before`).
    """

    public_key = models.CharField(max_length=56, db_index=True)
    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Done only by a deletion sent from then on (an update may land until then)."
    )
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"delete {self.name} ({self.public_key})"


class OrgOwnedMixin(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    objects = OrgScopedManager()

    class Meta:
        abstract = True

    def check_same_organization(self, **related) -> None:
        """Every relation stays inside one organization."""
        errors = {}
        for name, obj in related.items():
            if obj is not None and getattr(obj, "organization_id", None) != self.organization_id:
                errors[name] = f"This {obj._meta.verbose_name} belongs to another organization."
        if errors:
            raise ValidationError(errors)


class NatsRole(OrgOwnedMixin):
    """A permission template. An empty allow list allows nothing (never everything)."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    publish_allow = subject_list_field("Subjects this role may publish to.")
    publish_deny = subject_list_field("Subjects denied even when allowed above.")
    subscribe_allow = subject_list_field("Subjects this role may subscribe to.")
    subscribe_deny = subject_list_field("Subjects denied even when allowed above.")
    allow_responses = models.BooleanField(default=False, help_text="May reply to requests it received.")
    response_max = models.IntegerField(default=1, help_text="Replies per request; -1 = unlimited.")
    response_ttl = models.PositiveIntegerField(default=0, help_text="Seconds a reply permission lasts; 0 = none.")
    max_subscriptions = models.BigIntegerField(default=UNLIMITED, help_text="-1 = unlimited.")
    max_data = models.BigIntegerField(default=UNLIMITED, help_text="-1 = unlimited.")
    max_payload = models.BigIntegerField(default=UNLIMITED, help_text="-1 = unlimited.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    #: What the role puts into its users' JWTs: only a change of these reissues them.
    JWT_FIELDS = (
        "publish_allow",
        "publish_deny",
        "subscribe_allow",
        "subscribe_deny",
        "allow_responses",
        "response_max",
        "response_ttl",
        "max_subscriptions",
        "max_data",
        "max_payload",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "NATS role"
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="natsrole_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for f in ("max_subscriptions", "max_data", "max_payload", "response_max"):
            if getattr(self, f) < -1 or (f == "response_max" and self.response_max == 0):
                errors[f] = "Use -1 for unlimited or a positive value."
        if self.organization_id and self.name:
            clash = NatsRole.objects.filter(organization_id=self.organization_id, name=self.name).exclude(pk=self.pk)
            if clash.exists():
                errors["name"] = "A NATS role with this name already exists in this organization."
        if errors:
            raise ValidationError(errors)


class NatsUser(OrgOwnedMixin):
    """A NATS user: the identity of a person (membership), a thing, a leaf node or a platform service."""

    class OwnerKind(models.TextChoices):
        MEMBERSHIP = "membership", "Membership"
        THING = "thing", "Thing"
        LEAF_NODE = "leaf_node", "Leaf node"
        SERVICE = "service", "Platform service"

    # Empty only for the platform's own users in the system account.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="nats_users"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner_kind = models.CharField(max_length=16, choices=OwnerKind.choices, default=OwnerKind.THING)
    membership = models.OneToOneField(
        Membership,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="nats_user",
        error_messages={"unique": "This membership is already linked to another NATS user."},
    )
    # RESTRICT (not PROTECT): a role cannot be deleted while users hold it, except when the whole organization goes.
    role = models.ForeignKey(NatsRole, null=True, blank=True, on_delete=models.RESTRICT, related_name="users")
    publish_allow = subject_list_field("Added to the role's publish allow list.")
    publish_deny = subject_list_field("Added to the role's publish deny list.")
    subscribe_allow = subject_list_field("Added to the role's subscribe allow list.")
    subscribe_deny = subject_list_field("Added to the role's subscribe deny list.")
    bearer = models.BooleanField(default=False, help_text="Bearer JWT: connects without proving the seed.")
    tags = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tags],
        help_text="`name:value` tags in the JWT; a scoped key's template uses them (`{{tag(name)}}`).",
    )
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="No JWT is valid past this; empty = no end date (each JWT still expires after its lifetime).",
    )
    active = models.BooleanField(default=True)

    public_key = models.CharField(max_length=56, unique=True, editable=False)
    seed = EncryptedSecretField()
    signing_key = models.ForeignKey(
        AccountSigningKey, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    jwt = models.TextField(blank=True, editable=False)
    jwt_iat = models.BigIntegerField(default=0, editable=False)
    jwt_exp = models.BigIntegerField(default=0, editable=False, help_text="Expiry of `jwt`; 0 = never.")
    key_jwts_expire_by = models.BigIntegerField(
        null=True,
        default=None,
        editable=False,
        help_text="Every JWT issued for this key expires by then (0 = none issued yet); empty = some never do.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    #: What a user of an unscoped key carries itself, and a user of a scoped key must leave empty.
    OWN_PERMISSION_FIELDS = ("role", "publish_allow", "publish_deny", "subscribe_allow", "subscribe_deny", "bearer")

    class Meta:
        ordering = ["name"]
        verbose_name = "NATS user"
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="natsuser_unique_name_per_account")]
        # The organization's list, in its order (the unique constraint above serves the account's).
        indexes = [models.Index(fields=["organization", "name"], name="natsuser_org_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        account = self.account if self.account_id else None
        if account is not None and account.is_system != (self.organization_id is None):
            raise ValidationError({"account": "Users of the system account have no organization, and only they."})
        if self.organization_id:
            self.check_same_organization(account=account, role=self.role, membership=self.membership)
        if self.membership_id and self.owner_kind != self.OwnerKind.MEMBERSHIP:
            raise ValidationError({"membership": "Only a membership-owned user may link a membership."})
        key = self.signing_key if self.signing_key_id else None
        if key is not None and key.account_id != self.account_id:
            raise ValidationError({"signing_key": "This signing key belongs to another account."})
        if key is not None and key.is_scoped:
            own = [name for name in self.OWN_PERMISSION_FIELDS if getattr(self, name)]
            if own:
                raise ValidationError(
                    {
                        name: f"Permissions come from the scope '{key.scope_role}' of this user's signing key; "
                        "a scoped user carries none of its own."
                        for name in own
                    }
                )
        clash = NatsUser.objects.filter(account_id=self.account_id, name=self.name).exclude(pk=self.pk)
        if self.account_id and self.name and clash.exists():
            raise ValidationError({"name": "A NATS user with this name already exists in this account."})


class AccountExport(OrgOwnedMixin):
    class Kind(models.TextChoices):
        STREAM = "stream", "Stream"
        SERVICE = "service", "Service"

    class ResponseType(models.TextChoices):
        SINGLETON = "Singleton", "Singleton"
        STREAM = "Stream", "Stream"
        CHUNKED = "Chunked", "Chunked"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="exports")
    name = models.CharField(max_length=100)
    subject = models.CharField(max_length=500, validators=[validate_subject])
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STREAM)
    token_required = models.BooleanField(default=False)
    response_type = models.CharField(max_length=10, choices=ResponseType.choices, blank=True)
    response_threshold_ms = models.PositiveIntegerField(default=0)
    account_token_position = models.PositiveIntegerField(default=0)
    advertise = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subject"]
        constraints = [models.UniqueConstraint(fields=["account", "subject"], name="export_unique_subject")]

    def __str__(self) -> str:
        return f"{self.name} ({self.subject})"

    def clean(self) -> None:
        if self.organization_id and self.account_id:
            self.check_same_organization(account=self.account)
        if self.response_type and self.kind != self.Kind.SERVICE:
            raise ValidationError({"response_type": "Only service exports have a response type."})
        if self.account_id and self.subject:
            clash = AccountExport.objects.filter(account_id=self.account_id, subject=self.subject).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError({"subject": "This account already exports this subject."})


class AccountImport(OrgOwnedMixin):
    """An import into the organization's account. The exporter must be an account of the same organization
    or the platform's system account. Any other account is answered exactly like a key that does not exist
    (`NO_SUCH_EXPORTER`): whether another tenant's account exists is not for this tenant to learn."""

    NO_SUCH_EXPORTER = "No NATS account you may import from has this key."

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="imports")
    exporter = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    subject = models.CharField(max_length=500, validators=[validate_subject])
    local_subject = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_subject],
        help_text="Remap the imported subject locally (may use $1 …); empty = same subject.",
    )
    kind = models.CharField(max_length=8, choices=AccountExport.Kind.choices, default=AccountExport.Kind.STREAM)
    share = models.BooleanField(default=False)
    token = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subject"]

    def __str__(self) -> str:
        return f"{self.name} ({self.subject})"

    @classmethod
    def exporters_for(cls, organization) -> models.QuerySet:
        """The accounts `organization` may import from: the platform's system account and its own."""
        return Account.objects.filter(Q(is_system=True) | Q(organization=organization))

    def clean(self) -> None:
        if self.organization_id and self.account_id:
            self.check_same_organization(account=self.account)
        if self.exporter_id and not self.exporter.is_system and self.exporter.organization_id != self.organization_id:
            raise ValidationError({"exporter": self.NO_SUCH_EXPORTER})
        if self.exporter_id and self.exporter_id == self.account_id:
            raise ValidationError({"exporter": "An account cannot import from itself."})
