"""Loading a tokenizer and encoding text with it: offsets, token ends, bounded cuts, Unicode forms."""
