"""Reading inputs (local, compressed, remote) and writing and reading back a build's output."""
