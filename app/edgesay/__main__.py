from edgesay.cli import run  # absolute: the compiled binary runs this file as the top-level module

run()
