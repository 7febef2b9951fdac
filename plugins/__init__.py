"""Built-in memsim plugins, registered through the same ``memsim`` entry-point group as third-party ones."""
