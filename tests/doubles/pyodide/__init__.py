"""A test double of the parts of Pyodide the Cloudflare glue uses (see pyodide.ffi)."""
