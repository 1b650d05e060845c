"""HTTP routes, one module per area; each handler validates, calls the library once and lets
the app's exception handlers turn domain errors into status codes."""
