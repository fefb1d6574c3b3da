from webhook_kit.cli import main

main()
