"""Rating a closed ticket: the page a rating mail links to."""
