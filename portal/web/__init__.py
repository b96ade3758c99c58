"""HTTP: the route table, thin handlers, middleware and templates."""
