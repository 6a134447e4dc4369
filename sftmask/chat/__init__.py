"""Chat templates: rendering in a sandbox, locating assistant spans, choosing and checking templates."""
