"""The domain logic, callable from views, jobs, CLI and tests alike."""
