"""Regenerate examples/scene.exr, the sample the README's demo runs on (Daz-style channel `Y`)."""

from pathlib import Path

from lib_depth.depth.exr import write_depth
from lib_depth.depth.sample import synthetic_scene

if __name__ == "__main__":
    out = Path(__file__).with_name("scene.exr")
    write_depth(out, synthetic_scene(768, 512), channel="Y")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
