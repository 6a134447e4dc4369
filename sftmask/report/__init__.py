"""What a build's output says: `stats`, `validate` and `inspect`."""
