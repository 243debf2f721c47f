"""The API's routers, one module per resource.

Each router carries its full path prefix itself, so a route's `path` is the whole template
(`/api/v1/orders/{order_id}`) that logs and metrics are labelled with."""

API_PREFIX = "/api/v1"
