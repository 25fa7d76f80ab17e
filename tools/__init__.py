"""Scripts behind the Makefile targets."""
