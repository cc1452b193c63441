from stoneage.cli.main import main

main()
