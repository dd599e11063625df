from landers.cli import main

main()
