"""Between the engine and the writer: de-duplication, amounts, held-out splits, weighted mixing and shuffling of labelled rows."""
