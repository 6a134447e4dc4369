"""Labels from encoded batches: the masking strategies, row assembly (truncation), the batch function."""
