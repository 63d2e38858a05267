"""Bot projects: `python -m chatstate new` writes one, `python -m chatstate run` serves one."""
