from edgesay.cli import main  # absolute: the compiled binary runs this file as the top-level module

raise SystemExit(main())
