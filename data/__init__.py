"""Dataset formats, validation, splits and bundled sets: files in, normalized chat records out (see the data issue)."""
