"""Every API resource the client knows, one declarative entry each; `commands.py` makes the commands.

An entry names the resource's path under `/api/v1/` (`{org}` is the organization's slug; any other
`{placeholder}` becomes a required option, e.g. `{thing_type}` → `--thing-type ID`), the columns of its table,
its verbs (list, get, create, update, delete) and its extra actions (POST endpoints, downloads). A resource
the API gains later is one more entry here.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

CRUD = ("list", "get", "create", "update", "delete")


@dataclass(frozen=True)
class Action:
    """An endpoint beyond CRUD: `{detail path}{suffix}` (or `{list path}{suffix}` when not `detail`)."""

    name: str
    suffix: str
    help: str
    method: str = "POST"
    detail: bool = True
    #: Downloads write the body to `--out` (default: this name, `{id}` filled in) instead of printing it.
    download: str | None = None
    #: Written with mode 0600 (credentials, private keys).
    secret: bool = False
    #: Takes a request body (`--set`, `-f`).
    body: bool = False
    #: Uploads a file argument as this multipart field.
    upload: str | None = None


@dataclass(frozen=True)
class Resource:
    name: str
    path: str
    help: str
    columns: tuple[str, ...]
    verbs: tuple[str, ...] = CRUD
    #: `nats` / `nebula`: the commands sit under that group (`stoneage nats users list`).
    group: str | None = None
    #: One object at `path` itself (no id): `get` and `update` only.
    singleton: bool = False
    #: What the detail path is keyed by (`slug` for organizations).
    id_label: str = "ID"
    actions: tuple[Action, ...] = ()
    #: Query parameters offered as options on `list` (`--action login`) with their help, besides `--filter k=v`.
    filters: tuple[tuple[str, str], ...] = ()
    #: `list --follow`: poll for rows newer than the newest seen (append-only, newest-first lists).
    followable: bool = False

    @property
    def org_scoped(self) -> bool:
        return "{org}" in self.path

    @property
    def placeholders(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.path) if name and name != "org"]


ORG = "orgs/{org}/"
DEACTIVATE = Action("deactivate", "deactivate/", "Deactivate it (its credentials stop working).")
REACTIVATE = Action("reactivate", "reactivate/", "Reactivate it.", body=True)

RESOURCES: tuple[Resource, ...] = (
    # --- Tenancy -------------------------------------------------------------------------------------------------
    Resource(
        "orgs",
        "orgs/",
        "Organizations (creating one is for platform operators).",
        ("slug", "name", "active", "created"),
        id_label="SLUG",
    ),
    Resource(
        "members",
        ORG + "memberships/",
        "People in the organization and their roles (they join through invitations).",
        ("id", "user.username", "user.email", "role", "created"),
        verbs=("list", "get", "update", "delete"),
    ),
    Resource(
        "invitations",
        ORG + "invitations/",
        "Invitations to join the organization.",
        ("id", "email", "role", "status", "expires_at"),
        verbs=("list", "get", "create", "delete"),
        actions=(Action("resend", "resend/", "Send the invitation again, with a new link."),),
    ),
    Resource(
        "tokens",
        "tokens/",
        "API tokens (the secret is shown once, on create).",
        ("id", "name", "prefix", "organization", "platform", "expires_at", "last_used_at", "revoked_at"),
        verbs=("list", "get", "create", "delete"),
    ),
    Resource(
        "users",
        "users/",
        "People's accounts (platform operators).",
        ("id", "username", "email", "is_active", "is_superuser", "last_login"),
        verbs=("list", "get", "create", "update"),
        actions=(DEACTIVATE, REACTIVATE),
    ),
    # --- NATS ----------------------------------------------------------------------------------------------------
    Resource(
        "account",
        ORG + "nats/account/",
        "The organization's NATS account: read it, set its limits (`update --set max_connections:=100`).",
        (),
        verbs=("get", "update"),
        group="nats",
        singleton=True,
        actions=(
            Action("add-signing-key", "signing-keys/", "Add a signing key."),
            Action("rotate-signing-keys", "signing-keys/rotate/", "Rotate the signing keys (users are reissued)."),
        ),
    ),
    Resource(
        "roles",
        ORG + "nats/roles/",
        "NATS roles: permission templates for users.",
        ("id", "name", "publish_allow", "subscribe_allow", "user_count"),
        group="nats",
    ),
    Resource(
        "users",
        ORG + "nats/users/",
        "NATS users of the organization's account.",
        ("id", "name", "owner_kind", "role_name", "active", "public_key"),
        group="nats",
        actions=(
            Action(
                "creds", "creds/", "Download the .creds file (mode 0600).", "GET", download="{id}.creds", secret=True
            ),
            DEACTIVATE,
            REACTIVATE,
            Action("regenerate", "regenerate/", "New keys and JWT (the old ones stop working)."),
            Action("revoke", "revoke/", "Revoke the user's current JWT."),
        ),
    ),
    Resource(
        "exports",
        ORG + "nats/exports/",
        "Streams and services the account exports.",
        ("id", "name", "subject", "kind", "token_required"),
        group="nats",
    ),
    Resource(
        "imports",
        ORG + "nats/imports/",
        "Streams and services the account imports.",
        ("id", "name", "subject", "local_subject", "exporter", "kind"),
        group="nats",
    ),
    # --- Nebula --------------------------------------------------------------------------------------------------
    Resource(
        "cas",
        ORG + "nebula/cas/",
        "The organization's Nebula certificate authorities (read-only; rotate with `rotate`).",
        ("id", "name", "version", "fingerprint", "not_after", "rotation_phase"),
        verbs=("list", "get"),
        group="nebula",
        actions=(
            Action("ca-crt", "ca.crt", "Download the CA bundle (ca.crt).", "GET", download="ca-{id}.crt"),
            Action("rotate", "rotate/", "One phase of a CA rotation (`--set phase=prepare`).", body=True),
        ),
    ),
    Resource(
        "networks",
        ORG + "nebula/networks/",
        "Nebula overlay networks.",
        ("id", "name", "cidr", "host_count"),
        group="nebula",
    ),
    Resource(
        "hosts",
        ORG + "nebula/hosts/",
        "Nebula hosts and their certificates.",
        ("id", "hostname", "network", "overlay_ip", "groups", "is_lighthouse", "active", "not_after"),
        group="nebula",
        actions=(
            Action(
                "config",
                "config/",
                "Download the host's config.yml (mode 0600).",
                "GET",
                download="{id}-config.yml",
                secret=True,
            ),
            DEACTIVATE,
            REACTIVATE,
            Action("renew", "renew/", "Issue a fresh certificate."),
            Action("rekey", "rekey/", "New key pair and certificate.", body=True),
        ),
    ),
    # --- Inventory -----------------------------------------------------------------------------------------------
    Resource(
        "thing-types",
        ORG + "thing-types/",
        "Thing types and their contracts.",
        ("id", "code", "name", "subject_prefix"),
    ),
    Resource(
        "operations",
        ORG + "thing-types/{thing_type}/operations/",
        "A thing type's operations (its contract).",
        ("id", "name", "capability", "subject_template", "message_schema"),
    ),
    Resource(
        "message-schemas",
        ORG + "message-schemas/",
        "JSON Schemas of messages, by namespace, name and version.",
        ("id", "namespace", "name", "version"),
    ),
    Resource(
        "location-types",
        ORG + "location-types/",
        "Kinds of location (site, building, room…).",
        ("id", "code", "name"),
    ),
    Resource(
        "locations",
        ORG + "locations/",
        "The location tree.",
        ("id", "code", "name", "location_type", "parent", "depth"),
    ),
    Resource(
        "floorplans",
        ORG + "floorplans/",
        "Floorplans of locations (upload the image in the admin).",
        ("id", "name", "location", "image_format", "width", "height"),
        verbs=("list", "get", "update", "delete"),
        actions=(Action("image", "image/", "Download the image.", "GET", download="floorplan-{id}"),),
    ),
    Resource(
        "placements",
        ORG + "placements/",
        "Things placed on floorplans.",
        ("id", "floorplan", "thing", "x", "y"),
    ),
    Resource(
        "things",
        ORG + "things/",
        "Things (devices).",
        ("id", "code", "name", "thing_type", "location", "active"),
        actions=(
            Action(
                "creds",
                "creds/",
                "Download the thing's .creds file (mode 0600).",
                "GET",
                download="{id}.creds",
                secret=True,
            ),
            DEACTIVATE,
            REACTIVATE,
        ),
    ),
    Resource(
        "enrollment-tokens",
        ORG + "things/{thing}/enrollment-tokens/",
        "One-time enrollment tokens of a thing (the token is shown once, at creation).",
        ("id", "prefix", "status", "expires_at", "created_by"),
        verbs=("list", "get", "create", "delete"),
        actions=(Action("revoke", "revoke/", "Revoke an enrollment token."),),
    ),
    Resource(
        "commands",
        ORG + "things/{thing}/commands/",
        "Commands sent to a thing (its reply operations), with their status.",
        ("id", "operation_name", "status", "created", "answered_at", "error"),
        verbs=("list", "get", "create"),
        filters=(("status", "Only commands with this status (queued, sent, acknowledged, failed, timed_out…)."),),
    ),
    Resource(
        "leaf-nodes",
        ORG + "leaf-nodes/",
        "Leaf nodes (edge sites).",
        ("id", "code", "name", "domain", "location", "active", "online"),
        actions=(DEACTIVATE, REACTIVATE),
    ),
    # --- Audit ---------------------------------------------------------------------------------------------------
    Resource(
        "audit",
        ORG + "audit/events/",
        "The organization's audit log, newest first.",
        ("timestamp", "action", "actor_name", "object_type", "object_id", "object_repr"),
        verbs=("list", "get"),
        filters=(
            ("action", "Only this action (create, update, delete, login, api_request, credential_read…)."),
            ("actor", "Only events by this username."),
            ("object_type", "Only this kind of object, app_label.model (e.g. inventory.thing)."),
            ("object_id", "Only events of this object id."),
            ("request_id", "Only the events of one request."),
            ("since", "From this ISO 8601 time (inclusive)."),
            ("until", "Until this ISO 8601 time (exclusive)."),
        ),
        followable=True,
    ),
    # --- Platform ------------------------------------------------------------------------------------------------
    Resource(
        "backup",
        "platform/backups/",
        "Backups of the whole platform (platform operators).",
        ("id", "created", "size"),
        verbs=("list", "create"),
        actions=(
            Action(
                "download",
                "download/",
                "Download a backup archive (mode 0600).",
                "GET",
                download="stoneage-backup-{id}.tar.gz",
                secret=True,
            ),
            Action("restore", "restore/", "Restore the platform from a backup archive.", detail=False, upload="file"),
        ),
    ),
)
