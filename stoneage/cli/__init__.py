"""`stoneage`: the command-line client of the Stone Age REST API.

A pure API client: it talks to `/api/v1/` over HTTP with an API token and never imports Django, so it runs on
any machine against any deployment. Layout:

- `config.py`: contexts (URL, token, default organization) in a 0600 file under the user's config directory.
- `client.py`: the HTTP client (httpx), pagination, and the errors that map to exit codes.
- `output.py`: table, JSON and YAML output.
- `resources.py`: one declarative entry per API resource; `commands.py` turns each into click commands.
- `fleet.py`: `apply -f` and `export` of an organization's inventory as YAML.
- `main.py`: the root command, global options and exit codes.
"""
