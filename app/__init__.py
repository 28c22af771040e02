"""The mespot application: command line, configuration and GUI."""
