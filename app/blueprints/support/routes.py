"""Routes of the help center and the website forms."""
