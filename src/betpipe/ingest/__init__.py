"""Ingestion: one reader per source producing ``NormalisedBatch`` records, and the writer that stores them."""
