"""Request and response models of the HTTP API, apart from domain objects and tables."""
