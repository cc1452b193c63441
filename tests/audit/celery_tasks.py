"""A task for the audit tests' Celery worker (`celery worker -I tests.audit.celery_tasks`)."""

from celery import shared_task


@shared_task(name="tests.audit.describe_organization")
def describe_organization(organization_id: int, description: str) -> None:
    from tenancy.models import Organization

    organization = Organization.objects.get(pk=organization_id)
    organization.description = description
    organization.save()
