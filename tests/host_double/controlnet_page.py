"""A WebUI page with ControlNet units, built with gradio, for the Send-to-ControlNet browser tests.

Reproduces only what `javascript/depth_tools_controlnet.js` touches, with the ids and classes of
the real trees (docs/hosts.md; read from their source):

- "mikubill": sd-webui-controlnet 1.1.455 (`scripts/controlnet.py` `ui()`, `controlnet_ui_group.py`
  `render()`): `gr.Group(elem_id="{tab}_controlnet")` > `gr.Accordion(elem_id="controlnet")` >
  `gr.Tabs(elem_id="{tab}_controlnet_tabs")` > `gr.Tab("ControlNet Unit {i}", elem_classes="cnet-unit-tab")`,
  each unit's ids starting `{tab}_controlnet_ControlNet-{i}_`; with one unit (`control_net_unit_count`
  1) there are no tabs: a `gr.Column()` holds the unit, named `ControlNet`, so its ids start
  `{tab}_controlnet_ControlNet_` (`scripts/controlnet.py` `ui()`: `if max_models > 1: ... else:
  self.uigroup("ControlNet", ...)`); the unit image a `gr.Image(source="upload", tool="sketch")`
  (gradio 3 only, as in A1111). In img2img
  the image panel is hidden until "Upload independent control image" is ticked, whose change
  event clears the image and shows the panel (`register_img2img_same_input`).
- "forge": Forge's built-in ControlNet (dfdcbab6): the same group and accordion, then one
  InputAccordion per unit (`.input-accordion`), `ControlNet-{i}` even for one unit, the unit image
  a ForgeCanvas: a gr.HTML holding `input[type=file].forge-file-upload` and two hidden LogicalImage
  textboxes. The stand-in for canvas.min.js does what it does with an upload: read the file as a
  data URL, show it, and put a PNG data URL in the `logical_image_background` textbox (Forge
  re-draws it through a canvas).

Both: Enable (`.cnet-unit-enabled`), a Control Type radio whose change sets the preprocessor and
model to the type's defaults on the server (`select_control_type`), the preprocessor and model
dropdowns. A type lists the models whose names hold its word: NormalMap's is "normal"
(Mikubill: `scripts/supported_preprocessor.py` `tag_to_filters`, "normalmap": ["normal"]; Forge:
`lib_controlnet/global_state.py` `get_filtered_controlnet_names`), so `control_v11p_sd15_normalbae`
is NormalMap's default model when listed. Around them, A1111's `#tabs` with txt2img, img2img
(`#mode_img2img`) and any extra tabs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])
TABS = ("txt2img", "img2img")
CONTROL_TYPES = ("All", "Canny", "Depth", "NormalMap")
PREPROCESSORS = {
    "mikubill": {"All": "none", "Canny": "canny", "Depth": "depth_midas", "NormalMap": "normal_bae"},
    "forge": {"All": "None", "Canny": "canny", "Depth": "depth_anything", "NormalMap": "normalbae"},
}
NO_MODEL = "None"

#: What A1111's script.js and ui.js give every page (gradioApp, switch_to_txt2img/img2img), and
#: the ForgeCanvas stand-in: set up with Playwright's add_init_script before the page loads, as
#: the WebUI puts its scripts (and every extension's javascript/*.js) in the page's head.
A1111_SCRIPTS = r"""
function gradioApp() {
    const elems = document.getElementsByTagName('gradio-app');
    const elem = elems.length == 0 ? document : elems[0];
    if (elem !== document) { elem.getElementById = function(id) { return document.getElementById(id); }; }
    return elem.shadowRoot ? elem.shadowRoot : elem;
}
function switch_to_txt2img() {
    gradioApp().querySelector('#tabs').querySelectorAll('button')[0].click();
    return Array.from(arguments);
}
function switch_to_img2img_tab(no) {
    gradioApp().querySelector('#tabs').querySelectorAll('button')[1].click();
    gradioApp().getElementById('mode_img2img').querySelectorAll('button')[no].click();
}
function switch_to_img2img() {
    switch_to_img2img_tab(0);
    return Array.from(arguments);
}
"""

FORGE_CANVAS_STANDIN = r"""
document.addEventListener('change', (event) => {
    const input = event.target;
    if (!input.classList || !input.classList.contains('forge-file-upload') || !input.files.length) return;
    const uuid = input.id.replace('imageInput_', '');
    const reader = new FileReader();
    reader.onload = () => {
        const img = document.getElementById('image_' + uuid);
        img.onload = () => {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            canvas.getContext('2d').drawImage(img, 0, 0);
            const area = document.querySelector('#' + uuid + '.logical_image_background textarea');
            area.value = canvas.toDataURL('image/png');
            area.dispatchEvent(new Event('input', {bubbles: true}));
        };
        img.src = reader.result;
        img.style.display = 'block';
    };
    reader.readAsDataURL(input.files[0]);
}, true);
"""


@dataclass
class Unit:
    """One ControlNet unit's components (for the tests' server-side checks)."""

    image: Any
    enabled: Any
    type_filter: Any
    module: Any
    model: Any
    same_img2img: Any = None


@dataclass
class Page:
    blocks: gr.Blocks
    units: dict[str, list[Unit]] = field(default_factory=dict)


def _canvas_html(uuid: str) -> str:
    return (
        f'<div class="forge-container" id="container_{uuid}">'
        f'<input type="file" id="imageInput_{uuid}" class="forge-file-upload">'
        f'<div id="imageContainer_{uuid}" class="forge-image-container">'
        f'<img id="image_{uuid}" class="forge-image forge-no-select" style="display:none;max-width:100%">'
        "</div></div>"
    )


def unit_name(flavour: str, index: int, units: int) -> str:
    """The name in a unit's ids: `ControlNet-{index}`, but Mikubill's lone unit is `ControlNet`."""
    return "ControlNet" if flavour == "mikubill" and units == 1 else f"ControlNet-{index}"


def _unit(flavour: str, tab: str, index: int, models: Sequence[str], units: int) -> Unit:
    prefix = f"{tab}_controlnet_{unit_name(flavour, index, units)}"
    img2img = tab == "img2img"
    with (
        gr.Group(visible=not img2img) as panel,
        gr.Tabs(),
        gr.Tab(label="Single Image"),
        gr.Row(elem_classes=["cnet-image-row"]),
        gr.Group(elem_classes=["cnet-input-image-group"]),
    ):
        if flavour == "mikubill":
            image = gr.Image(
                source="upload", type="numpy", tool="sketch", elem_id=f"{prefix}_input_image",
                elem_classes=["cnet-image"], interactive=True,
            )
        else:
            uuid = f"uuid_{tab}_{index}"
            gr.HTML(_canvas_html(uuid), elem_id=f"{prefix}_input_image", elem_classes=["cnet-image"])
            gr.Textbox(visible=False, elem_id=uuid, elem_classes=["logical_image_foreground"], container=False,
                       show_label=False)
            image = gr.Textbox(visible=False, elem_id=uuid, elem_classes=["logical_image_background"],
                               container=False, show_label=False)
    with gr.Row(elem_classes=["controlnet_main_options"]):
        enabled = gr.Checkbox(
            label="Enable", value=False, elem_id=f"{prefix}_controlnet_enable_checkbox",
            elem_classes=["cnet-unit-enabled"], interactive=True,
        )
    same = None
    if img2img:
        same = gr.Checkbox(
            label="Upload independent control image", value=False,
            elem_id=f"{prefix}_controlnet_same_img2img_checkbox", elem_classes=["cnet-unit-same_img2img"],
            interactive=True,
        )
        same.change(lambda on: [gr.update(value=None), gr.update(visible=on)], same, [image, panel])
    type_filter = gr.Radio(
        list(CONTROL_TYPES), value="All", label="Control Type", elem_id=f"{prefix}_controlnet_type_filter_radio",
        elem_classes="controlnet_control_type_filter_group", interactive=True,
    )
    defaults = PREPROCESSORS[flavour]
    module = gr.Dropdown(
        list(defaults.values()), value=defaults["All"], label="Preprocessor",
        elem_id=f"{prefix}_controlnet_preprocessor_dropdown", interactive=True,
    )
    model = gr.Dropdown(
        [NO_MODEL, *models], value=NO_MODEL, label="Model", elem_id=f"{prefix}_controlnet_model_dropdown",
        interactive=True,
    )

    def filter_selected(kind: str) -> list[Any]:
        """`select_control_type`: the type's preprocessors and models, its default of each."""
        word = {"Depth": "depth", "NormalMap": "normal", "Canny": "canny"}.get(kind)
        listed = [m for m in models if word is None or word in m.lower()]
        default_model = listed[0] if listed and word is not None else NO_MODEL
        choices = [defaults["All"], defaults[kind]] if kind != "All" else list(defaults.values())
        if kind == "Depth":
            choices.append("depth_tools_relevel")
        return [
            gr.update(value=defaults[kind], choices=choices),
            gr.update(value=default_model, choices=[NO_MODEL, *listed] if word else [NO_MODEL, *models]),
        ]

    type_filter.change(filter_selected, type_filter, [module, model])
    return Unit(image, enabled, type_filter, module, model, same)


def _controlnet(flavour: str, tab: str, units: int, models: Sequence[str]) -> list[Unit]:
    made = []
    with gr.Group(elem_id=f"{tab}_controlnet"):
        label = "ControlNet v1.1.455" if flavour == "mikubill" else "ControlNet Integrated"
        with gr.Accordion(label, open=False, elem_id="controlnet"):
            if flavour == "mikubill" and units == 1:
                with gr.Column():
                    made.append(_unit(flavour, tab, 0, models, units))
            elif flavour == "mikubill":
                with gr.Tabs(elem_id=f"{tab}_controlnet_tabs"):
                    for i in range(units):
                        with gr.Tab(f"ControlNet Unit {i}", elem_classes=["cnet-unit-tab"]):
                            made.append(_unit(flavour, tab, i, models, units))
            else:
                with gr.Row(elem_id=f"{tab}_controlnet_accordions", elem_classes="accordions"):
                    for i in range(units):
                        with gr.Accordion(f"ControlNet Unit {i}", open=False, elem_id=f"input-accordion-{tab}-{i}",
                                          elem_classes=["input-accordion", "cnet-unit-enabled-accordion"]):
                            made.append(_unit(flavour, tab, i, models, units))
    return made


def build_page(
    flavour: str = "mikubill",
    units: int = 3,
    models: Sequence[str] = ("control_v11f1p_sd15_depth [cfd03158]", "control_v11p_sd15_canny [d14c016b]"),
    extra_tabs: Sequence[tuple[str, str, Callable[[], gr.Blocks]]] = (),
) -> Page:
    """The page: `#tabs` with txt2img and img2img (each with ControlNet), then `extra_tabs`
    ((title, id, builder of a Blocks) rendered inside, as A1111 renders on_ui_tabs interfaces)."""
    if flavour not in PREPROCESSORS:
        raise ValueError(f"unknown flavour {flavour!r}")
    if flavour == "mikubill" and GRADIO_MAJOR >= 4:
        raise RuntimeError("sd-webui-controlnet runs in A1111, on gradio 3")
    interfaces = [(title, tab_id, build()) for title, tab_id, build in extra_tabs]
    page = Page(gr.Blocks(analytics_enabled=False, title="WebUI double"))
    with page.blocks, gr.Tabs(elem_id="tabs"):
        for tab in TABS:
            with gr.TabItem(tab, id=tab, elem_id=f"tab_{tab}"):
                gr.Textbox(label="Prompt", elem_id=f"{tab}_prompt")
                if tab == "img2img":
                    with gr.Tabs(elem_id="mode_img2img"):
                        with gr.TabItem("img2img", id="img2img_img2img_tab"):
                            gr.Image(label="Image for img2img", elem_id="img2img_image")
                        with gr.TabItem("Sketch", id="img2img_sketch_tab"):
                            gr.Markdown("sketch")
                page.units[tab] = _controlnet(flavour, tab, units, models)
        for title, tab_id, interface in interfaces:
            with gr.TabItem(title, id=tab_id, elem_id=f"tab_{tab_id}"):
                interface.render()
    return page


def init_scripts(flavour: str) -> str:
    """The scripts a page of that flavour has before gradio starts (Playwright add_init_script)."""
    return A1111_SCRIPTS + (FORGE_CANVAS_STANDIN if flavour == "forge" else "")
