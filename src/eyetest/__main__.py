from eyetest.cli.main import cli

cli()
