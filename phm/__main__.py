from phm.cli import main

raise SystemExit(main())
