import sys

if sys.argv[1:2] == ["farm"]:  # `python -m lib_depth farm STAGE ...`: one task of a render farm
    from .farm import main
else:
    from .cli import main

sys.exit(main())
