"""Routes of the customer portal."""
