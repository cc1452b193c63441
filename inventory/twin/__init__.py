"""The live digital twin: reported state (`twin`, written by devices) and desired state (`twin_desired`, written
by the control plane) in each organization's NATS account, keys `<kind>.<code>.<property>`.

- `state` (pure): keys, values, entries and drift;
- `store`: the platform service user's NATS connection, the buckets, snapshots and desired-state writes;
- `hub`: one connection and one watch of the buckets per organization per process, shared by its viewers;
- `consumers`: the websocket of the admin's **Live state** panel and floorplan;
- `api`: `GET …/things/<id>/twin/`, `PUT`/`DELETE …/twin/desired/<property>/`.
"""
