"""Thing types and their contracts: the operations a thing of the type performs, on which subjects, with
which message schema.

A thing type is a scoped signing key of its organization's NATS account (`signing_key`): the key's template is
the contract, and the user JWTs of the type's things are issued by it, with no permissions of their own. The
template is rebuilt whenever the type's prefix or operations change (`inventory.services.contracts`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from credentials.models import AccountSigningKey
from inventory import subjects
from inventory.models.base import InventoryModel, TypeModel, json_schema_field, validate_identifier
from tenancy.scoping import OrgScopedManager

validate_semver = RegexValidator(r"^[0-9]+\.[0-9]+\.[0-9]+$", "Use a semantic version: MAJOR.MINOR.PATCH, e.g. 1.0.0.")


def validate_prefix(value: str) -> None:
    try:
        subjects.check_template(value, wildcards=False)
    except subjects.SubjectTemplateError as exc:
        raise ValidationError(str(exc)) from None


class MessageSchema(InventoryModel):
    """A versioned JSON Schema for the payload of an operation; a new version is a new row."""

    namespace = models.CharField(max_length=64, validators=[validate_identifier])
    name = models.CharField(max_length=64, validators=[validate_identifier])
    version = models.CharField(max_length=32, validators=[validate_semver])
    description = models.TextField(blank=True)
    schema = json_schema_field("The JSON Schema payloads must satisfy.")

    class Meta:
        ordering = ["namespace", "name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "namespace", "name", "version"], name="messageschema_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}@{self.version}"

    def clean(self) -> None:
        errors = {}
        if not self.schema:
            errors["schema"] = "Enter the JSON Schema of the payload."
        if self.organization_id and self.namespace and self.name and self.version:
            clash = MessageSchema.objects.filter(
                organization_id=self.organization_id, namespace=self.namespace, name=self.name, version=self.version
            ).exclude(pk=self.pk)
            if clash.exists():
                errors["version"] = "This version of the schema already exists; publish a new version instead."
        if errors:
            raise ValidationError(errors)


class ThingType(TypeModel):
    subject_prefix = models.CharField(
        max_length=subjects.MAX_LENGTH,
        default=subjects.DEFAULT_PREFIX,
        validators=[validate_prefix],
        help_text="Subject of the type's operations, before each operation's suffix. Placeholders: {org}, "
        "{location}, {thing_type}, {thing}.",
    )
    metadata_schema = json_schema_field("JSON Schema the metadata of this type's things must satisfy.")
    signing_key = models.OneToOneField(
        AccountSigningKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="thing_type", editable=False
    )


class Operation(models.Model):
    """One message a thing of the type sends or receives."""

    class Capability(models.TextChoices):
        PUBLISH = "publish", "Publish"
        SUBSCRIBE = "subscribe", "Subscribe"
        REQUEST = "request", "Request (sends, awaits a reply)"
        REPLY = "reply", "Reply (receives requests, answers them)"

    org_lookup = "thing_type__organization"

    thing_type = models.ForeignKey(ThingType, on_delete=models.CASCADE, related_name="operations")
    name = models.CharField(max_length=64, validators=[validate_identifier])
    capability = models.CharField(max_length=16, choices=Capability.choices)
    subject_suffix = models.CharField(
        max_length=subjects.MAX_LENGTH, help_text="Appended to the type's subject prefix, e.g. telemetry.temperature."
    )
    description = models.TextField(blank=True)
    message_schema = models.ForeignKey(
        MessageSchema, null=True, blank=True, on_delete=models.PROTECT, related_name="operations"
    )
    command_ttl = models.PositiveIntegerField(
        "command TTL",
        default=0,
        help_text="Reply operations (commands): seconds a command waits for an offline thing, which pulls it when "
        "it comes back. 0 = refused at once when the thing is offline.",
    )
    members_may_command = models.BooleanField(
        default=False, help_text="Reply operations (commands): members may send it too, not only owners and admins."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["thing_type", "name", "capability"]
        constraints = [
            models.UniqueConstraint(fields=["thing_type", "name", "capability"], name="operation_unique_capability")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.capability})"

    @property
    def organization_id(self):
        return self.thing_type.organization_id if self.thing_type_id else None

    @property
    def subject_template(self) -> str:
        return subjects.join(self.thing_type.subject_prefix, self.subject_suffix)

    @property
    def is_command(self) -> bool:
        """A reply operation on one subject: the control plane sends requests there and the thing answers."""
        return self.capability == self.Capability.REPLY and not any(
            token in ("*", ">") for token in self.subject_template.split(".")
        )

    def clean(self) -> None:
        errors = {}
        if self.thing_type_id:
            if self.message_schema_id and self.message_schema.organization_id != self.thing_type.organization_id:
                errors["message_schema"] = "This message schema belongs to another organization."
            try:
                # Subscribers may use wildcards; what is published or requested names one subject.
                wildcards = self.capability in (self.Capability.SUBSCRIBE, self.Capability.REPLY)
                subjects.check_template(self.subject_template, wildcards=wildcards)
            except subjects.SubjectTemplateError as exc:
                errors["subject_suffix"] = str(exc)
            if self.command_ttl and self.capability != self.Capability.REPLY:
                errors["command_ttl"] = "Only reply operations are commands; leave the TTL at 0."
            elif self.command_ttl and self.command_ttl > settings.COMMAND_MAX_TTL:
                errors["command_ttl"] = f"At most {settings.COMMAND_MAX_TTL} seconds."
            clash = Operation.objects.filter(
                thing_type_id=self.thing_type_id, name=self.name, capability=self.capability
            ).exclude(pk=self.pk)
            if self.name and clash.exists():
                errors["name"] = "This type already has an operation with this name and capability."
        if errors:
            raise ValidationError(errors)
