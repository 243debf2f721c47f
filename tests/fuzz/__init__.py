"""Bad input: schema-driven fuzzing of the whole OpenAPI and a corpus of hand-written nasties."""
