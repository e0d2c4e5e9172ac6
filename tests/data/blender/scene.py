"""The Blender scene behind tests/data/blender/*.exr (see README.md there to regenerate them).

    blender -b --factory-startup -P tests/data/blender/scene.py -- tests/data/blender

A sphere, a rotated cube and a floor, rendered by Cycles at 1 sample into multilayer EXRs with the
Depth and Normal passes (float32, ZIP, no Combined pass), plus `cameras.json`: every render's camera
(rotation in degrees as the camera panel shows it, Euler XYZ; location; lens; horizontal field of
view). Shots: a camera that moves (frames 1 and 2, keyframed), a 35 mm lens, a wall square to the
view axis (is Depth planar: one value everywhere?), and a portrait render (taller than wide: Blender's
AUTO sensor fit puts the 36 mm across the height, so the horizontal field of view is narrower).

The pixel filter is made tiny so each pixel's single ray goes through its centre: the passes then
hold the surface at exactly the point a depth-derived normal is computed for. The sphere is smooth
shaded with many segments (its Normal pass is then within a fraction of a degree of the true sphere).
"""

import json
import math
import sys
from pathlib import Path

import bpy

WIDTH, HEIGHT = 128, 96
SHOTS = {
    # name: (frame, camera location, camera rotation in degrees, lens in mm, wall only)
    "move_f1": (1, (7.4, -6.5, 5.0), (63.0, 0.0, 48.5), 50.0, False),
    "move_f2": (2, (2.5, -9.0, 3.5), (70.0, 10.0, 15.0), 50.0, False),
    "lens35": (1, (3.0, -8.0, 3.2), (72.0, 0.0, 11.5), 35.0, False),
    "wall": (1, (0.0, 40.0, 2.0), (90.0, 0.0, 0.0), 50.0, True),
    "portrait": (1, (6.5, -7.5, 4.0), (68.0, 0.0, 42.0), 50.0, False),
}
#: shots rendered taller than wide: with sensor fit AUTO the 36 mm apply to the height
PORTRAIT = {"portrait"}


def build_scene() -> tuple:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.cycles.filter_width = 0.01
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    layer = scene.view_layers[0]
    layer.use_pass_combined = False
    layer.use_pass_z = True
    layer.use_pass_normal = True

    bpy.ops.mesh.primitive_uv_sphere_add(segments=192, ring_count=96, radius=1.2, location=(0.0, 0.0, 1.2))
    bpy.ops.object.shade_smooth()
    bpy.ops.mesh.primitive_cube_add(size=1.6, location=(2.6, 1.4, 1.1), rotation=(math.radians(30),
                                    math.radians(20), math.radians(45)))
    bpy.ops.mesh.primitive_plane_add(size=14.0, location=(0.0, 0.0, 0.0))
    bpy.ops.mesh.primitive_plane_add(size=200.0, location=(0.0, 60.0, 0.0), rotation=(math.radians(90), 0, 0))
    wall = bpy.context.object
    bpy.ops.object.camera_add()
    camera = bpy.context.object
    scene.camera = camera
    camera.data.sensor_fit = "AUTO"
    return scene, camera, wall


def keyframe_camera(camera: bpy.types.Object, shot: tuple) -> None:
    frame, location, rotation, lens, _ = shot
    camera.location = location
    camera.rotation_euler = tuple(math.radians(r) for r in rotation)
    camera.data.lens = lens
    camera.keyframe_insert("location", frame=frame)
    camera.keyframe_insert("rotation_euler", frame=frame)


def main() -> None:
    out = Path(sys.argv[sys.argv.index("--") + 1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scene, camera, wall = build_scene()
    keyframe_camera(camera, SHOTS["move_f1"])
    keyframe_camera(camera, SHOTS["move_f2"])
    cameras = {}
    for name, shot in SHOTS.items():
        frame, location, rotation, lens, wall_only = shot
        if not name.startswith("move"):
            camera.animation_data_clear()
            camera.location = location
            camera.rotation_euler = tuple(math.radians(r) for r in rotation)
        camera.data.lens = lens
        scene.frame_set(frame)
        width, height = (HEIGHT, WIDTH) if name in PORTRAIT else (WIDTH, HEIGHT)
        scene.render.resolution_x, scene.render.resolution_y = width, height
        for obj in scene.objects:
            if obj.type == "MESH":
                obj.hide_render = wall_only != (obj == wall)
        scene.render.filepath = str(out / f"{name}.exr")
        bpy.ops.render.render(write_still=True)
        sensor = camera.data.sensor_width
        across = sensor * min(width / height, 1.0)  # AUTO fit: the sensor spans the longer side
        cameras[name] = {
            "file": f"{name}.exr", "frame": frame,
            "rotation_degrees": [round(math.degrees(r), 6) for r in camera.rotation_euler],
            "rotation_mode": camera.rotation_mode,
            "location": [round(v, 6) for v in camera.location],
            "lens_mm": lens, "sensor_width_mm": sensor, "sensor_fit": camera.data.sensor_fit,
            "fov_degrees": round(math.degrees(2 * math.atan(across / 2 / lens)), 6),
            "width": width, "height": height, "blender": bpy.app.version_string,
        }
    (out / "cameras.json").write_text(json.dumps(cameras, indent=2) + "\n")


main()
