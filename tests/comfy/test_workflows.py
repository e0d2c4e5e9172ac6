"""The pack's example workflows in a real ComfyUI: listed by `/api/workflow_templates` (ComfyUI serves
a pack's `example_workflows/` there; `examples/` holds no .json, so it lists nothing of it), and each
run as shipped — the UI (litegraph) file turned into the API prompt as the page does it, with its
inputs placed in the input folder — gives the command line's pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.anything_support import random_state_dict, save_pth
from tests.comfy.server import PACK, REPO, Comfy, error_of
from tests.comfy.test_exr_nodes import cli, png, saved, scene
from tests.comfy.test_model_nodes import picture

WORKFLOWS = REPO / "example_workflows"
UPLOAD = "upload"


def _is_widget(spec: list) -> bool:
    return isinstance(spec[0], list) or spec[0] in ("INT", "FLOAT", "STRING", "BOOLEAN")


def widget_inputs(info: dict) -> list[tuple[str, dict]]:
    """The node's widgets in the order the page saves their widgets_values: required then optional
    inputs with a widget (sockets carry none), then, for an `image_upload` combo, the upload button
    that the page's Comfy.UploadImage extension adds: it is created after every other widget (read
    in the page: a new LoadImage saves [file, "image"], a new Load EXR depth [exr, path, channel,
    view, "image"])."""
    declared = {**info["input"]["required"], **info["input"].get("optional", {})}
    widgets = [(name, spec[1] if len(spec) > 1 else {}) for name, spec in declared.items() if _is_widget(spec)]
    if any(options.get("image_upload") for _, options in widgets):
        widgets.append((UPLOAD, {}))
    return widgets


def to_prompt(workflow: dict, object_info: dict) -> dict:
    """The API prompt for a UI workflow: widgets_values in widget order (a seed's
    control_after_generate value and the upload button's are no input), links as [node, slot]."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        info = object_info[node["type"]]
        values, inputs = iter(node["widgets_values"]), {}
        for name, options in widget_inputs(info):
            value = next(values)
            if name != UPLOAD:
                inputs[name] = value
            if name == "seed" or options.get("control_after_generate"):
                next(values)
        for socket in node["inputs"]:
            if socket.get("link") is not None:
                link = links[socket["link"]]
                inputs[socket["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def test_the_example_workflows_are_listed(comfy: Comfy) -> None:
    listed = json.loads(comfy.get("/api/workflow_templates"))
    assert sorted(listed[PACK]) == sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    for path in WORKFLOWS.glob("*.json"):
        assert json.loads(comfy.get(f"/api/workflow_templates/{PACK}/{path.name}")) == json.loads(path.read_text())


def test_the_sequence_workflow_gives_the_command_lines_frames(comfy: Comfy, tmp_path: Path) -> None:
    folder = comfy.root / "input" / "depth_tools_example"
    folder.mkdir(parents=True, exist_ok=True)
    for number, shift in ((1, 0.0), (2, 25.0)):
        scene(folder / f"shot_{number:04d}.exr", shift=shift)
    workflow = json.loads((WORKFLOWS / "exr_sequence_to_16bit_frames.json").read_text())
    entry = comfy.run(to_prompt(workflow, comfy.object_info()))
    assert error_of(entry) is None, error_of(entry)
    cli("--sequence", folder / "shot_####.exr", "--bits", 16, "--compress_map", "--noise", "--seed", 3, "-o", tmp_path)
    got = saved(comfy, entry, node="3")
    assert len(got) == 2 and all(image.dtype == np.uint16 for image in got)
    for number, image in enumerate(got, start=1):
        assert np.array_equal(image, png((tmp_path / f"shot_{number:04d}.depth.png").read_bytes())), number


def test_the_photo_workflow_gives_the_command_lines_depth_anything_map(comfy: Comfy, tmp_path: Path) -> None:
    """The photo workflow as shipped but for its weights choice: 'auto' takes only the published file
    (hash-checked), and no published weights exist here, so the test names its random ViT-S file."""
    photo = picture(comfy.root / "input" / "depth_tools_photo.png", 98, 70)
    weights = save_pth(comfy.root / "models" / "depth_tools" / "depth_anything_v2_vits.pth", random_state_dict("vits"))
    workflow = json.loads((WORKFLOWS / "photo_to_depth_anything_16bit.json").read_text())
    prompt = to_prompt(workflow, comfy.object_info())
    assert prompt["2"]["inputs"] == {"image": ["1", 0], "bg_threshold": 0.1, "resolution": 518, "weights": "auto"}
    prompt["2"]["inputs"]["weights"] = weights.name
    entry = comfy.run(prompt)
    assert error_of(entry) is None, error_of(entry)
    cli(photo, "--model", "depth-anything-v2", "--bits", 16, "--weights", weights, "--device", "cpu",
        "--precision", "fp32", "-o", tmp_path)
    (got,) = saved(comfy, entry, node="3")
    assert got.shape == (70, 98) and got.dtype == np.uint16
    assert np.array_equal(got, png((tmp_path / f"{photo.stem}.depth.png").read_bytes()))


def test_the_controlnet_workflow_validates_and_gives_the_command_lines_map(comfy: Comfy, tmp_path: Path) -> None:
    """EXR -> map -> ControlNet apply -> KSampler, as shipped. No SD checkpoint or ControlNet model
    exists here, so ComfyUI refuses exactly the two loaders (their files are not in its lists) and
    runs the rest: every link into ControlNetApplyAdvanced and the sampler passed its type check (a
    mismatch would be an error of those nodes), and the saved map is the command line's."""
    render = scene(comfy.root / "input" / "depth_tools_render.exr")
    workflow = json.loads((WORKFLOWS / "exr_to_controlnet_depth.json").read_text())
    prompt = to_prompt(workflow, comfy.object_info())
    assert prompt["8"]["inputs"]["image"] == ["2", 0]  # the map is ControlNet's hint
    status, answer = comfy.post("/prompt", {"prompt": prompt, "client_id": "controlnet-workflow"})
    assert status == 200, answer
    refused = {node: [(e["type"], e["extra_info"]["input_name"]) for e in error["errors"]]
               for node, error in answer["node_errors"].items()}
    assert refused == {"4": [("value_not_in_list", "ckpt_name")], "7": [("value_not_in_list", "control_net_name")]}
    assert {tuple(error["dependent_outputs"]) for error in answer["node_errors"].values()} == {("12",)}
    entry = comfy.wait(str(answer["prompt_id"]))
    assert error_of(entry) is None, error_of(entry)
    cli(render, "--bits", 16, "--compress_map", "-o", tmp_path)
    (got,) = saved(comfy, entry, node="3")
    assert got.dtype == np.uint16 and np.array_equal(got, png((tmp_path / f"{render.stem}.depth.png").read_bytes()))
