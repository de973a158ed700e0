"""Pure rendering and validation: models in, files and issues out. No Kubernetes or HTTP here."""
