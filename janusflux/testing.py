"""pytest plugin for janusflux users: VCR configuration and twin fixtures (being built)."""
