"""Code to start a test's child interpreter with: the package named in sys.argv[1] cannot be
imported there, as on a WebUI started with --skip-install (or after a failed pip)."""

WITHOUT_PACKAGE = r"""
import sys
class Block:  # as if the package were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {sys.argv[1]!r}", name=sys.argv[1])
sys.meta_path.insert(0, Block())
"""
