"""The CAF system adapter (national or local eCAF): its XML messages, schemas and client."""
