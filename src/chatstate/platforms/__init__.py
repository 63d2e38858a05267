"""Platform adapters: verification, parsing and outbound calls for each chat platform."""
