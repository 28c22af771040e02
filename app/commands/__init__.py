"""One module per `mespot` subcommand; each exposes ``add_parser(subparsers)`` and ``run(args)``."""
