from rtcstack.cli.main import main

raise SystemExit(main())
