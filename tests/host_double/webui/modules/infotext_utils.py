"""A1111 1.10's "send to" plumbing: buttons made by `create_buttons`, bindings collected by
`register_paste_params_button` and wired by the WebUI after every tab is built."""

import gradio as gr


class ParamBinding:
    def __init__(
        self,
        paste_button,
        tabname,
        source_text_component=None,
        source_image_component=None,
        source_tabname=None,
        override_settings_component=None,
        paste_field_names=None,
    ):
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


registered_param_bindings: list[ParamBinding] = []


def create_buttons(tabs_list):
    return {tab: gr.Button(f"Send to {tab}", elem_id=f"{tab}_tab") for tab in tabs_list}


def register_paste_params_button(binding: ParamBinding):
    registered_param_bindings.append(binding)
