"""Platform adapters: the only place platform libraries are imported."""
