from listener.cli.app import main

main()
