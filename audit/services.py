"""Writing audit events. Every event goes through `write_event`, which links it into its chain.

Public entry points for other apps:

- `record_credential_read(obj=..., kind=...)`: call wherever a `.creds` file, a seed or a Nebula config is
  handed out (admin action or API), after the permission check and in the download's transaction.
- `record_bulk(action, objects, changes=...)`: call next to a `QuerySet.update()`, `bulk_create()` or
  `bulk_update()` of a registered model, in the same transaction; these send no model signals.

Everything else (model changes, logins, API requests, token failures) is captured automatically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import connections, models, router, transaction
from django.utils import timezone

from audit import keys, registry
from audit.context import ANONYMOUS, AuditContext, clean_text, context_from_request, current, is_enabled
from audit.hashing import json_safe, keyed_hash
from audit.models import Action, AuditChainHead, AuditEvent, chain_for
from tenancy.models import ApiToken, Organization
from tenancy.scoping import org_lookup_for, organization_id_of

BULK_ACTIONS = {"create": Action.BULK_CREATE, "update": Action.BULK_UPDATE, "delete": Action.BULK_DELETE}


def write_event(
    action: str,
    *,
    obj: models.Model | None = None,
    organization_id: int | None = None,
    organization_slug: str = "",
    chain: str | None = None,
    actor=None,
    actor_name: str = "",
    before: dict | None = None,
    after: dict | None = None,
    changed_fields: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    object_type: str = "",
    object_repr: str = "",
    request=None,
    using: str | None = None,
) -> AuditEvent | None:
    """Append one event to its chain (the organization's, or the platform's when there is none).

    The actor is `actor` (a user) or `actor_name` when given, else the current context's. The write joins
    the caller's transaction, so a rolled-back change leaves no event. The event is chained with the first
    key of `STONEAGE_AUDIT_KEYS` (ImproperlyConfigured when there is none and DEBUG is off).
    """
    if not is_enabled():
        return None
    key = keys.signing_key()
    context = _context_for(request)
    if actor is not None:
        actor_id, actor_name = actor.pk, actor.get_username()
    elif actor_name:
        actor_id = None
    else:
        actor_id, actor_name = context.actor()
    if obj is not None:
        object_type, object_id = obj._meta.label_lower, "" if obj.pk is None else str(obj.pk)
        object_repr = object_repr or _describe(obj)
    else:
        object_id = ""
    if organization_id and not organization_slug:
        organization_slug = _organization_slug(organization_id, obj)
    chain = chain or chain_for(organization_id)
    db = using or router.db_for_write(AuditEvent)
    with transaction.atomic(using=db, savepoint=False):  # joins the change's transaction, if any
        sequence, prev_hash = _claim_next(chain, db)
        event = AuditEvent(
            timestamp=timezone.now(),
            organization_id=organization_id,
            organization_slug=organization_slug[:50],
            actor_id=actor_id,
            actor_name=actor_name[:150],
            request_id=context.request_id,
            ip=context.ip,
            user_agent=context.user_agent,
            action=action,
            object_type=object_type,
            object_id=object_id[:64],
            object_repr=object_repr[:200],
            before=json_safe(before),
            after=json_safe(after),
            changed_fields=list(changed_fields),
            extra=json_safe(dict(extra or {})),
            chain=chain,
            sequence=sequence,
            prev_hash=prev_hash,
            key_id=key.id,
        )
        event.hash = keyed_hash(prev_hash, event, key.secret)
        event.save(using=db)
        with connections[db].cursor() as cursor:
            cursor.execute(f"UPDATE {_heads(db)} SET hash = %s WHERE chain = %s", [event.hash, chain])  # noqa: S608
    return event


# The hot path of every audited write, written out in SQL: it runs once per event.


def _heads(db: str) -> str:
    return connections[db].ops.quote_name(AuditChainHead._meta.db_table)


def _claim_next(chain: str, db: str) -> tuple[int, str]:
    """Take the next position in `chain`: (sequence, hash of the event before it).

    Moving the head first takes its row lock (the database's write lock on SQLite) until the transaction
    ends, so concurrent writers of one chain queue here instead of forking it.
    """
    with connections[db].cursor() as cursor:  # UPDATE ... RETURNING: PostgreSQL, SQLite >= 3.35
        cursor.execute(
            f"UPDATE {_heads(db)} SET sequence = sequence + 1 WHERE chain = %s RETURNING sequence, hash",  # noqa: S608
            [chain],
        )
        row = cursor.fetchone()
    if row is None:  # the chain's first event
        AuditChainHead.objects.using(db).bulk_create([AuditChainHead(chain=chain)], ignore_conflicts=True)
        return _claim_next(chain, db)
    return row[0], row[1]


def lock_head(chain: str, db: str) -> AuditChainHead | None:
    """Hold `chain` still (for retention) until the transaction ends."""
    return AuditChainHead.objects.using(db).select_for_update().filter(chain=chain).first()


def _context_for(request) -> AuditContext:
    context = current()
    if request is None or context.request is not None or context.request_id:
        return context
    return context_from_request(request)


def _describe(obj: models.Model) -> str:
    try:
        return str(obj)
    except ObjectDoesNotExist:
        return f"{obj._meta.verbose_name} {obj.pk}"


def _organization_slug(organization_id: int, obj: models.Model | None) -> str:
    if isinstance(obj, Organization):
        return obj.slug
    field = _organization_field(type(obj)) if obj is not None else None
    if field is not None and field.is_cached(obj):
        cached = field.get_cached_value(obj)
        if cached is not None:
            return cached.slug
    return Organization.objects.filter(pk=organization_id).values_list("slug", flat=True).first() or ""


def _organization_field(model: type[models.Model]) -> models.ForeignKey | None:
    if org_lookup_for(model) != "organization":
        return None
    try:
        field = model._meta.get_field("organization")
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.ForeignKey) else None


def _organization_path(model: type[models.Model]) -> str | None:
    lookup = org_lookup_for(model)
    if lookup != "pk":
        try:
            model._meta.get_field(lookup.split("__")[0])
        except FieldDoesNotExist:  # not an org-owned model: users, the operator
            return None
    return lookup


def organization_of(obj: models.Model) -> int | None:
    """The organization an object belongs to, or None for platform objects."""
    if _organization_path(type(obj)) is None:
        return None
    try:
        return organization_id_of(obj)
    except ObjectDoesNotExist:
        return None


# --- Model changes ---------------------------------------------------------------------------------------------


def record_change(
    entry: registry.ModelAudit,
    instance: models.Model,
    action: str,
    *,
    before: dict | None,
    after: dict | None,
    changed_fields: Iterable[str] = (),
    using: str | None = None,
) -> AuditEvent | None:
    return write_event(
        action,
        obj=instance,
        organization_id=organization_of(instance),
        before=entry.redacted(before),
        after=entry.redacted(after),
        changed_fields=changed_fields,
        using=using,
    )


def record_bulk(
    action: str,
    objects: models.QuerySet | Iterable[models.Model],
    *,
    changes: Mapping[str, Any] | None = None,
) -> list[AuditEvent]:
    """Record a bulk write that bypasses model signals, as one summarising event per organization.

    `action` is "create", "update" or "delete"; `objects` the rows written: the created objects for
    `bulk_create()`, or, for `update()`, the queryset *before* it runs (it is evaluated here); `changes` the
    values written (redacted like the model's fields). Call it inside the same transaction as the write::

        with transaction.atomic():
            audit.record_bulk("update", things, changes={"active": False})
            things.update(active=False)

    Each event names the model in `object_type` and lists the ids in `extra["ids"]`.
    """
    if action not in BULK_ACTIONS:
        raise ValueError(f"Unknown bulk action {action!r}; use one of {sorted(BULK_ACTIONS)}.")
    if isinstance(objects, models.QuerySet):
        model = objects.model
        path = _organization_path(model)
        if path is None:
            rows = [(pk, None) for pk in objects.values_list("pk", flat=True)]
        else:
            rows = list(objects.values_list("pk", path))
    else:
        objects = list(objects)
        if not objects:
            return []
        model = type(objects[0])
        rows = [(obj.pk, organization_of(obj)) for obj in objects]
    entry = registry.get(model)
    if entry is None:
        raise ValueError(f"{model._meta.label} is not registered for audit.")
    by_organization: dict[int | None, list[str]] = defaultdict(list)
    for pk, organization_id in rows:
        by_organization[organization_id].append(str(pk))
    changes = json_safe(dict(changes or {}))
    events = []
    for organization_id, ids in by_organization.items():
        name = model._meta.verbose_name if len(ids) == 1 else model._meta.verbose_name_plural
        event = write_event(
            BULK_ACTIONS[action],
            organization_id=organization_id,
            object_type=entry.object_type,
            object_repr=f"{len(ids)} {name}",
            after=entry.redacted(changes) if changes else None,
            changed_fields=sorted(changes),
            extra={"ids": ids, "count": len(ids)},
        )
        if event is not None:
            events.append(event)
    return events


# --- Credential reads, auth and API requests ---------------------------------------------------------------------


def record_credential_read(
    *, obj: models.Model, kind: str, request=None, detail: Mapping[str, Any] | None = None
) -> AuditEvent | None:
    """Record that a credential was handed out: a `.creds` file, a seed, a Nebula config.

    Call it where the download is served, after the permission check. `kind` names what was read
    (e.g. "nats.creds", "nebula.config"); `detail` adds context, never the secret itself.
    """
    return write_event(
        Action.CREDENTIAL_READ,
        obj=obj,
        organization_id=organization_of(obj),
        extra={"kind": kind, **(detail or {})},
        request=request,
    )


def record_login(*, request, user) -> AuditEvent | None:
    return write_event(Action.LOGIN, obj=user, actor=user, request=request)


def record_logout(*, request, user) -> AuditEvent | None:
    if user is None:
        return write_event(Action.LOGOUT, actor_name=ANONYMOUS, request=request)
    return write_event(Action.LOGOUT, obj=user, actor=user, request=request)


def record_login_failed(*, request, username: str) -> AuditEvent | None:
    return write_event(
        Action.LOGIN_FAILED, actor_name=ANONYMOUS, extra={"username": clean_text(username)[:150]}, request=request
    )


def record_password_reset_requested(*, request, email: str, users: Iterable) -> list[AuditEvent | None]:
    """One event per account emailed, or one naming the address when it belongs to none."""
    extra = {"email": clean_text(email)[:254]}
    users = list(users)
    if not users:
        return [write_event(Action.PASSWORD_RESET_REQUESTED, actor_name=ANONYMOUS, extra=extra, request=request)]
    return [
        write_event(Action.PASSWORD_RESET_REQUESTED, obj=user, actor_name=ANONYMOUS, extra=extra, request=request)
        for user in users
    ]


def record_password_changed(*, user, reset: bool) -> AuditEvent | None:
    return write_event(Action.PASSWORD_RESET if reset else Action.PASSWORD_CHANGED, obj=user, actor=user)


def record_token_rejected(*, request, prefix: str, reason: str) -> AuditEvent | None:
    prefix = clean_text(prefix)[:16]
    token = ApiToken.objects.filter(prefix=prefix).select_related("organization").first() if prefix else None
    return write_event(
        Action.TOKEN_REJECTED,
        obj=token,
        organization_id=token.organization_id if token else None,
        organization_slug=token.organization.slug if token and token.organization else "",
        actor_name=ANONYMOUS,
        extra={"prefix": prefix, "reason": reason},
        request=request,
    )


def record_api_request(*, request, status: int, duration_ms: float, organization_id: int | None) -> AuditEvent | None:
    return write_event(
        Action.API_REQUEST,
        organization_id=organization_id,
        extra={
            "method": request.method,
            "path": clean_text(request.path)[:500],
            "status": status,
            "duration_ms": round(duration_ms, 1),
        },
        request=request,
    )
