"""What every inventory model shares: its organization, the scoping manager, codes that can stand in subjects,
and metadata checked against a JSON Schema."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from inventory import schemas, subjects
from tenancy.models import Organization
from tenancy.scoping import OrgScopedManager

validate_code = RegexValidator(
    subjects.CODE_PATTERN,
    "Use 1-64 letters, digits, hyphens or underscores, starting with a letter or digit "
    "(codes stand in NATS subjects and twin keys).",
)
validate_identifier = RegexValidator(r"^[a-z0-9_]{1,64}$", "Use 1-64 lowercase letters, digits or underscores.")


def validate_json_schema(value) -> None:
    if value in (None, {}):
        return
    errors = schemas.schema_errors(value)
    if errors:
        raise ValidationError(errors)


def json_schema_field(help_text: str) -> models.JSONField:
    return models.JSONField(default=dict, blank=True, validators=[validate_json_schema], help_text=help_text)


def metadata_field() -> models.JSONField:
    return models.JSONField(
        default=dict, blank=True, help_text="Free-form attributes, checked against the type's schema."
    )


def metadata_errors(metadata, schema) -> dict[str, str]:
    """Errors keyed by the failing field (`metadata.floor`), for a model's `ValidationError`."""
    if not isinstance(metadata, dict):
        return {"metadata": "Enter a JSON object."}
    return schemas.document_errors(metadata, schema, root="metadata")


class InventoryModel(models.Model):
    """A row owned by one organization; relations to other inventory rows stay inside it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        abstract = True

    def same_organization_errors(self, **related) -> dict[str, str]:
        return {
            name: f"This {obj._meta.verbose_name} belongs to another organization."
            for name, obj in related.items()
            if obj is not None
            and self.organization_id
            and getattr(obj, "organization_id", None) != self.organization_id
        }

    def unique_code_error(self, field: str = "code") -> dict[str, str]:
        value = getattr(self, field)
        if not self.organization_id or not value:
            return {}
        clash = type(self).objects.filter(organization_id=self.organization_id, **{field: value}).exclude(pk=self.pk)
        if clash.exists():
            return {field: f"A {self._meta.verbose_name} with this {field} already exists in this organization."}
        return {}


class TypeModel(InventoryModel):
    """A kind of inventory row (a thing type, a location type): a code unique in its organization, a name, and the
    JSON Schema the metadata of its rows must satisfy. A subclass declares `metadata_schema` with its own help
    text (`json_schema_field`)."""

    code = models.CharField(max_length=64, validators=[validate_code])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="%(class)s_unique_code")]

    def __str__(self) -> str:
        return self.name or self.code

    def clean(self) -> None:
        errors = self.unique_code_error()
        if errors:
            raise ValidationError(errors)

    def metadata_errors(self, metadata) -> dict[str, str]:
        return metadata_errors(metadata, self.metadata_schema)
