"""Study specs and the service functions used by the web app and the CLI."""
