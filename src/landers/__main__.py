from landers.cli import run

run()
